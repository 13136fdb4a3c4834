"""ONNX -> TensorFlow SavedModel with onnx2tf (its CLI, in a subprocess, run in this step's work dir).

onnx2tf turns NCHW into NHWC; the artifact keeps the ONNX (canonical) input/output names and shapes and the
runtime adapter maps the SavedModel's own tensors onto them. Three onnx2tf habits shape this module:
- it rewrites its input ONNX in place (it runs the onnxsim CLI on it), so it gets a private copy;
- it downloads a calibration sample unless that file is in its cwd, so we write it from local images;
- it logs some failures and still exits 0, so the SavedModel is checked for, not assumed.
onnx2tf also writes TFLite files; they are deleted here: the tf_to_tflite step makes them from this
SavedModel, as their own artifacts and steps.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Literal

import numpy as np

from converters.samples import feeds_of
from core.artifact import Artifact, TensorSpec
from core.errors import StepFailed

# their versions are part of this step's cache key (onnx2tf drives onnxsim and onnx-graphsurgeon itself)
PACKAGES = ("onnx2tf", "tensorflow", "tf-keras", "onnx", "onnxsim", "onnx-graphsurgeon", "sng4onnx")

CALIBRATION_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"


@dataclass(frozen=True)
class Options:
    """graph.steps.<name> options (conf/step/onnx_to_tf.yaml), checked with the config before anything runs."""

    verbosity: Literal["debug", "info", "warn", "error"] = "warn"  # onnx2tf -v
    # ops onnx2tf replaces by builtin-only subgraphs (-rtpo) when the model has them: as TF ops they would become
    # "Flex" ops in TFLite, which ai-edge-litert cannot run (a BERT's GELU is an Erf)
    pseudo_ops: list = field(default_factory=lambda: ["Erf", "GeLU"])
    # extra onnx2tf CLI arguments, verbatim: onnx2tf is the judge of them (a rejected one fails the step with
    # onnx2tf's own error line)
    args: list = field(default_factory=list)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ABSL_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl)")


def convert(source: Artifact, options: dict, workdir: Path) -> list[Artifact]:
    shutil.copy(source.path, workdir / "model.onnx")  # onnx2tf rewrites its input: never hand it the upstream file
    np.save(workdir / CALIBRATION_FILE, calibration_sample())
    fixed, inputs = bound_inputs(source, options)
    args = ["-i", "model.onnx", "-o", "saved_model", "-v", str(options.get("verbosity", "warn")),
            *shape_args(source, options, fixed),
            *[str(a) for a in options.get("args") or []]]
    env = dict(os.environ)
    # onnx2tf calls the `onnxsim` CLI by name and silently skips that pass when it is not on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    print("$ onnx2tf " + shlex.join(args), flush=True)
    start = time.perf_counter()
    returncode, tail = _run_logged([sys.executable, "-m", "onnx2tf", *args], workdir, env)
    seconds = time.perf_counter() - start
    if returncode != 0:
        raise StepFailed(f"onnx2tf exited with code {returncode}: {_error_line(tail, source.path)}")
    saved_model = workdir / "saved_model"
    if not (saved_model / "saved_model.pb").is_file():
        raise StepFailed("onnx2tf exited 0 but wrote no saved_model.pb (it logs some failures and carries on): "
                         f"{_error_line(tail, source.path)}")
    for leftover in [workdir / "model.onnx", workdir / CALIBRATION_FILE, *saved_model.glob("*.tflite")]:
        leftover.unlink()
    return [Artifact(name="", format="tf_savedmodel", path=str(saved_model), precision="fp32",
                     inputs=inputs, outputs=source.outputs,
                     meta={"onnx2tf": metadata.version("onnx2tf"), "tensorflow": metadata.version("tensorflow"),
                           "command": "onnx2tf " + shlex.join(args), "onnx2tf_seconds": round(seconds, 2),
                           "opset": source.meta.get("opset")})]


def bound_inputs(source: Artifact, options: dict) -> tuple[dict[str, list[int]], list[TensorSpec]]:
    """The inputs whose dynamic dimensions onnx2tf is told (its -ois; a dynamic batch the run keeps stays dynamic,
    unless other dimensions are dynamic too), and the SavedModel's inputs as the reference sees them."""
    keep_batch = bool(options.get("dynamic_batch"))
    feeds = {f.name: f for f in feeds_of(options)}
    fixed, inputs = {}, []
    for spec in source.inputs:
        dynamic = [axis for axis, d in enumerate(spec.shape) if d < 0]
        feed = feeds.get(spec.name)
        if dynamic and feed and (dynamic != [feed.batch_axis] or not keep_batch):
            fixed[spec.name] = list(feed.shape)
        inputs.append(replace(spec, shape=fixed.get(spec.name, spec.shape)))
    return fixed, inputs


def shape_args(source: Artifact, options: dict, fixed: dict[str, list[int]]) -> list[str]:
    """-ois for the bound shapes, -k for inputs that are not images (only images go channels-last), -rtpo for the
    ops to replace that the model has."""
    args = []
    if fixed:
        args += ["-ois", *[f"{name}:{','.join(map(str, shape))}" for name, shape in fixed.items()]]
    keep = [s.name for s in source.inputs if len(s.shape) >= 3 and not s.is_image()]
    if keep:
        args += ["-k", *keep]
    present = ops_in(source.path) & set(options.get("pseudo_ops", Options().pseudo_ops) or [])
    if present:
        args += ["-rtpo", *sorted(present)]
    return args


def ops_in(path: str) -> set[str]:
    return set(op_types(path).values())


def calibration_sample(count: int = 20, side: int = 128) -> np.ndarray:
    """count x side x side x 3 float32 RGB in [0, 1] from packaged photos (square crops at a few offsets),
    in place of the file onnx2tf would otherwise download for its own checks."""
    from PIL import Image

    from core.images import load_rgb, packaged_image_paths

    images = [load_rgb(p) for p in packaged_image_paths()]
    # passes over the photos: (where along the long side, share of the short side, mirrored), so that
    # every sample differs, square photos included
    passes = [(0.5, 1.0, False), (0.0, 1.0, True), (1.0, 0.8, False)]
    crops = []
    for i in range(count):
        image = images[i % len(images)]
        where, zoom, mirror = passes[(i // len(images)) % len(passes)]
        height, width = image.shape[:2]
        short = int(min(height, width) * zoom)
        top, left = int((height - short) * where), int((width - short) * where)
        crop = np.asarray(Image.fromarray(image[top : top + short, left : left + short]).resize(
            (side, side), Image.BILINEAR), np.float32) / 255
        crops.append(crop[:, ::-1] if mirror else crop)
    return np.stack(crops)


def _run_logged(command: list[str], cwd: Path, env: dict) -> tuple[int, list[str]]:
    """Run, streaming the output into this step's log as it comes (a step killed at its timeout still
    leaves it there); returns the exit code and the output's last lines."""
    tail: deque[str] = deque(maxlen=200)
    with subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            tail.append(line)
    return proc.returncode, list(tail)


FAILED_NODE = re.compile(r"^ERROR: onnx_op_name: (.+)$")
EXCEPTION = re.compile(r"^[A-Za-z_.]*(Error|Exception): .+")


def _error_line(output: list[str], onnx_path: str | None = None) -> str:
    """onnx2tf's reason in one line: the node it could not convert (its op type and name) and the exception, when
    it says; else its last error line."""
    lines = [ANSI.sub("", line).strip() for line in output]
    lines = [line for line in lines if line and not ABSL_LOG.match(line)]  # TF's own start-up chatter
    nodes = [found.group(1) for found in map(FAILED_NODE.match, lines) if found]
    exceptions = [line for line in lines if EXCEPTION.match(line)]
    if nodes and exceptions:  # onnx2tf renames "/a/b" to "wa/a/b"
        name = re.sub("^wa/", "/", nodes[-1])
        op = op_types(onnx_path).get(name, "?") if onnx_path else "?"
        return f"onnx2tf cannot convert the {op} node {name!r}: {exceptions[-1]}"[:500]
    errors = [line for line in lines if "error" in line.lower()]
    line = (errors or lines or ["no output"])[-1]
    return re.sub(r"^\S+\.py: ", "", line)[:500]  # argparse names the program __main__.py


def op_types(path: str) -> dict[str, str]:
    """Node name -> op type of an ONNX file."""
    import onnx

    return {node.name: node.op_type for node in onnx.load(path, load_external_data=False).graph.node}
