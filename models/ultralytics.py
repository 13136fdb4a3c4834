"""YOLO detectors through the `ultralytics` package (the `yolo` extra).

Ultralytics is AGPL-3.0: only this module imports it, and only when a model config says `source: ultralytics`
(models/__init__.py dispatches here). Core, pre/postprocess, parity and the benchmark never import it.

The network is built from its architecture config (`yolov8n.yaml`, `yolov8s.yaml`, ...; no download) with the
run's seed; `model.weights=PATH` loads a real checkpoint. The saved module is fused, in eval mode, and its
Detect head is in export mode, so it returns only the raw head output [B, 4 + classes, anchors] (boxes as
centre x, y, width, height in input pixels, then per-class sigmoid scores). NMS is our numpy postprocess.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import nn

from core.errors import UserError, first_line
from models.weights import calibrate_batchnorm

# Set before ultralytics is first imported (its import otherwise probes the network). The pickled model
# names this module's class first, so unpickling it in a runtime's process sets this before ultralytics loads.
os.environ.setdefault("YOLO_OFFLINE", "1")

# RetinaNet's focal-loss prior: P(object of a class at an anchor) = 1%. See randomize_class_prior.
RANDOM_INIT_PRIOR = 0.01


class YoloDetector(nn.Module):
    """The ultralytics network, wrapped so that loading the pickle imports this module (and YOLO_OFFLINE) first."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build(cfg: dict, seed: int) -> nn.Module:
    """cfg: the model config (name, weights, ...). Returns the fused eval-mode YoloDetector."""
    from ultralytics.nn.modules.head import Detect
    from ultralytics.nn.tasks import DetectionModel

    torch.manual_seed(seed)
    name = cfg["name"]
    try:
        net = DetectionModel(f"{name}.yaml", ch=3, nc=int(cfg.get("classes", 80)), verbose=False)
    except (FileNotFoundError, KeyError, AssertionError) as error:
        raise UserError(f"model.name={name!r} is not an ultralytics architecture (e.g. yolov8n, yolov8s, "
                        f"yolov8m, yolo11n): {error}") from error
    head = net.model[-1]
    if type(head) is not Detect:  # Segment/Pose/OBB add outputs our postprocess does not read
        raise UserError(f"model.name={name!r} has a {type(head).__name__} head; only detection models are supported")
    if cfg.get("weights"):
        load_checkpoint(net, Path(cfg["weights"]), name)
    else:
        calibrate_batchnorm(net, calibration_images())
        randomize_class_prior(head)
    net = net.fuse(verbose=False).eval()
    if head.end2end or getattr(head, "xyxy", False):  # NMS-free heads emit final boxes: nothing for our NMS
        raise UserError(f"model.name={name!r} has an end-to-end (NMS-free) head; only heads with raw "
                        "[4 + classes, anchors] output are supported")
    head.export = True  # forward returns the raw head tensor alone, not (y, feature maps): one ONNX output
    for param in net.parameters():
        param.requires_grad_(False)
    return YoloDetector(net).eval()


def calibration_images(size: int = 640) -> torch.Tensor:
    """The two photos ultralytics ships (bus.jpg, zidane.jpg), letterboxed: always there when this module runs,
    and independent of the run's input.images. Noise does not do: white or 1/f noise calibrates a network
    whose activations then grow 10-100x on real photos, and the class scores saturate at 1."""
    import ultralytics

    from core.images import load_rgb
    from core.prepost import Processing, preprocess

    assets = Path(ultralytics.__file__).parent / "assets"
    images = [load_rgb(assets / name) for name in ("bus.jpg", "zidane.jpg")]
    return torch.from_numpy(preprocess(images, Processing(task="detection", size=size, mean=(0.0,), std=(1.0,))))


def randomize_class_prior(head: nn.Module) -> None:
    """Ultralytics initialises class biases for training (log(5 / classes / cells)): with random weights every
    score stays below 2e-4, so even a parity threshold of 0.001 sees no box. With the 1% prior the scores
    spread around 0.01 and parity compares up to max_det boxes per image."""
    bias = math.log(RANDOM_INIT_PRIOR / (1 - RANDOM_INIT_PRIOR))
    for branch in head.cv3:
        branch[-1].bias.data[: head.nc] = bias


def load_checkpoint(net: nn.Module, path: Path, name: str) -> None:
    """An ultralytics checkpoint ({'model': DetectionModel, ...}, as `yolo train` saves) or a plain state dict."""
    if not path.is_file():
        raise UserError(f"model.weights={str(path)!r}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # an ultralytics checkpoint pickles its model class: weights_only refuses it
        try:
            # Unpickling runs code from the file: weights are a user's own file, as with ultralytics itself.
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:
            raise UserError(f"model.weights={str(path)!r} is not a readable torch file: {error}") from error
    if isinstance(state, dict):
        saved = state["ema"] if state.get("ema") is not None else state.get("model")  # ema: what ultralytics runs
        if isinstance(saved, nn.Module):
            state = saved.float().state_dict()
        else:
            state = state.get("state_dict", state)
    elif isinstance(state, nn.Module):
        state = state.float().state_dict()
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        first = first_line(error)
        raise UserError(f"model.weights={str(path)!r} does not fit model.name={name!r}: {first}") from error


# ---- Ultralytics' own road (tools/peers.py): what its user runs instead of convgraph ----------------------------
def own_exports(module_path: Path, out: Path, formats: tuple[str, ...]) -> dict[str, str]:
    """Ultralytics' `YOLO(...).export(format=...)` with its defaults, of a saved YoloDetector (the same weights a
    run converted): {format: the exported path} or {f"{format}_error": why}. YOLO_AUTOINSTALL is off: a missing
    requirement fails the format instead of pip-installing it."""
    os.environ["YOLO_AUTOINSTALL"] = "false"
    from ultralytics import YOLO

    net = torch.load(module_path, map_location="cpu", weights_only=False).net
    os.chdir(out)  # a model built from its yaml exports into the working folder
    yolo = YOLO(net.yaml.get("yaml_file", "yolov8n.yaml"), task="detect")
    for attribute in ("args", "task"):  # what the export reads of a model YOLO built itself
        setattr(net, attribute, getattr(yolo.model, attribute, None))
    yolo.model = net
    made = {}
    for fmt in formats:
        try:
            made[fmt] = str(Path(yolo.export(format=fmt)).resolve())
        except Exception as error:  # one format's failure is that peer's row, not the others'
            made[f"{fmt}_error"] = first_line(error)[:160]
    return made


class PredictorBackend:
    """The inference step of Ultralytics' predictor, `AutoBackend(file)(image)`, on one of its own exports:
    outputs as numpy; `executed` is what OpenVINO reports it runs in (fp32 for ONNX Runtime)."""

    def __init__(self, path: str):
        os.environ["YOLO_AUTOINSTALL"] = "false"
        from ultralytics import __version__
        from ultralytics.nn.autobackend import AutoBackend

        self.version = __version__
        self.backend = AutoBackend(path, device=torch.device("cpu"), verbose=False)
        inner = getattr(self.backend, "backend", self.backend)
        self.name = type(inner).__name__
        compiled = getattr(inner, "ov_compiled_model", None)
        reported = compiled.get_property("INFERENCE_PRECISION_HINT").to_string() if compiled is not None else "f32"
        self.executed = {"f32": "fp32", "f16": "fp16"}.get(reported, reported)

    def __call__(self, image) -> list:
        with torch.inference_mode():
            out = self.backend(torch.from_numpy(image))
        return [t.numpy() if hasattr(t, "numpy") else t for t in (out if isinstance(out, list | tuple) else [out])]
