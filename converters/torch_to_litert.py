"""torch -> TFLite with litert-torch: torch.export, then LiteRT's own lowering (no ONNX, no TensorFlow).

The second road to TFLite, beside onnx2tf (torch -> ONNX -> SavedModel -> TFLite). What differs in the file:
- the image input stays NCHW, as in PyTorch (onnx2tf's are NHWC); the TFLite runtime pairs it as it is;
- the serving signature names its inputs and outputs after the reference's (the module is wrapped to take its
  inputs by keyword and return its outputs by name), so runtimes.matching pairs them by name, not by position;
- int8 is full-integer down to the edges: its input and output tensors are int8 (litert-torch folds the first
  quantize and the last dequantize into them); the TFLite runtime applies the file's own scales there.
  Every file is prepared once by LiteRT's interpreter before it is handed on: an int8 file it refuses (static int8
  lowering is a known gap of litert-torch) is n/a with LiteRT's reason, any other a failure.

fp32; fp16: float16 weights (litert-torch's fp16 recipe: ai-edge-quantizer's float casting), computed in fp32;
int8: static PT2E quantization (litert-torch's PT2EQuantizer: int8 activations, symmetric int8 weights)
calibrated on the run's calibration samples.
"""
from __future__ import annotations

import keyword
import time
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Literal

from converters.step_io.feed_arrays import calibration, example
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact, TensorSpec
from core.errors import NotApplicable, StepFailed, first_line
from runtimes.matching import sanitized
from runtimes.torch import callable_module, load_torch

# their versions are part of this step's cache key (litert-torch lowers through litert-converter; int8 and fp16
# go through torchao's PT2E and ai-edge-quantizer)
PACKAGES = ("litert-torch", "litert-converter", "torch", "torchao", "ai-edge-quantizer", "ai-edge-litert")
CODE = ("converters.step_io.feed_arrays", "runtimes.torch")

PRECISIONS = ("fp32", "fp16", "int8")
WEIGHTS = {"fp32": "float32", "fp16": "float16 (dequantized to float32 at load)",
           "int8": "int8 (activations int8, int8 input/output: the runtime quantizes at the edges)"}
# an optional road (its extra brings jax and friends): where it is missing the step does not apply, the other
# roads of the graph go on, and the reason says how to get it
INSTALL = ("litert-torch is not installed in this interpreter: pip install '.[litert]' (make setup does), or run "
           "convert.py with an interpreter that has it")


@dataclass(frozen=True)
class Options:
    """graph.steps.<name> options and their defaults (conf/step/torch_to_litert.yaml overrides them); checked with the
    config before anything runs."""

    precision: Literal["fp32", "fp16", "int8", "bf16"] = "fp32"  # bf16: not applicable (recorded n/a)
    # true: the batch axis stays symbolic; when litert-torch cannot lower that, the file keeps the run's batch
    # (recorded in its meta) and the benchmark skips other batch sizes for it. None: as the run needs
    # (StepInputs.dynamic_batch: bench.batch asks for other batches than input.batch)
    dynamic_batch: bool | None = None
    per_channel: bool = True  # int8: one weight scale per output channel (else one per tensor)


def convert(source: Artifact, options: Options, run: StepInputs, workdir: Path) -> list[Artifact]:
    precision = options.precision
    if precision == "bf16":
        raise NotApplicable("litert-torch writes no bf16 TFLite, and TFLite's CPU kernels have no bf16")
    if precision not in PRECISIONS:
        raise StepFailed(f"precision={precision!r} is not produced by this step; it makes {', '.join(PRECISIONS)}")
    try:
        import litert_torch
    except ImportError as error:
        raise NotApplicable(f"{INSTALL} ({first_line(error)})") from None
    version = metadata.version("litert-torch")
    if source.meta.get("loader") == "torchscript":
        raise StepFailed("litert-torch converts through torch.export, which takes no TorchScript module; give the "
                         "model as an ExportedProgram (.pt2) or as Python source")
    feeds = list(run.feeds)
    names = identifiers([f.name for f in feeds] + [o.name for o in source.outputs])
    module = named(callable_module(load_torch(source.path, source.meta.get("loader", "pickle"))),
                   [names[f.name] for f in feeds], [names[o.name] for o in source.outputs])
    dynamic, refused = run.dynamic_batch if options.dynamic_batch is None else options.dynamic_batch, ""
    start = time.perf_counter()
    try:
        content, quantization = _convert(litert_torch, module, feeds, names, precision, options, run, dynamic)
    except Exception as error:  # litert-torch raises anything from torch.export, MLIR or jax
        if not dynamic:
            raise StepFailed(f"litert-torch {version} could not convert it: {first_line(error)}") from error
        dynamic, refused = False, first_line(error)[:300]
        print(f"a dynamic batch axis failed ({refused}); converting at the run's batch", flush=True)
        start = time.perf_counter()
        try:
            content, quantization = _convert(litert_torch, module, feeds, names, precision, options, run, dynamic)
        except Exception as again:
            raise StepFailed(f"litert-torch {version} could not convert it: {first_line(again)}") from again
    seconds = time.perf_counter() - start
    path = workdir / f"model_{precision}.tflite"
    path.write_bytes(content)
    refusal = litert_refusal(path)
    if refusal and precision == "int8":  # the known upstream gap: static int8 lowering of some ops
        raise NotApplicable(f"litert-torch {version}'s static int8 lowering made a file LiteRT cannot run: {refusal}")
    if refusal:
        raise StepFailed(f"litert-torch {version} made a file LiteRT cannot run: {refusal}")
    batch = (lambda shape: [-1, *shape[1:]]) if dynamic else list
    inputs = [TensorSpec(f.name, batch(f.shape), f.layout, f.dtype) for f in feeds]
    outputs = [replace(o, shape=batch(o.shape)) for o in source.outputs]
    return [Artifact(name="", format="tflite", path=str(path), precision=precision, inputs=inputs, outputs=outputs,
                     meta={"litert_torch": version, "torch": metadata.version("torch"),
                           "conversion_seconds": round(seconds, 2), "weights": WEIGHTS[precision],
                           "quantization": quantization,
                           "converter": "litert_torch.convert (torch.export -> LiteRT)",
                           "dynamic_batch": dynamic, **({"dynamic_batch_refused": refused} if refused else {})})]


def _convert(litert_torch, module, feeds, names: dict[str, str], precision: str, options: Options,
             run: StepInputs, dynamic: bool) -> tuple[bytes, str]:
    """The TFLite file's bytes, and what quantization ran."""
    import torch

    if dynamic:  # torch.export silently specializes a size-1 example to 1: trace with a batch of 2
        feeds = [replace(f, shape=[2, *f.shape[1:]]) if f.shape[0] == 1 else f for f in feeds]
    examples = {names[f.name]: torch.from_numpy(example(f)) for f in feeds}
    batch = torch.export.Dim("batch", min=1) if dynamic else None
    shapes = {name: {0: batch} for name in examples} if dynamic else None
    quant_config, quantization = None, "none"
    if precision == "fp16":
        from litert_torch.generative.quantize import quant_recipes

        quant_config = quant_recipes.full_fp16_recipe()
        quantization = "float16 weights (litert-torch's full_fp16_recipe: ai-edge-quantizer float casting)"
    elif precision == "int8":
        module, quant_config, quantization = calibrated(module, examples, shapes, names, options.per_channel,
                                                        run.calibration)
    edge = litert_torch.convert(module, (), examples, quant_config=quant_config, dynamic_shapes=shapes)
    return bytes(edge.model_content()), quantization


def litert_refusal(path: Path) -> str:
    """Why LiteRT's interpreter cannot prepare the file (an int8 kernel's constraint on its scales, like the
    softmax one fixed_output_scales repairs), or ''."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        Interpreter(model_path=str(path)).allocate_tensors()
    except (RuntimeError, ValueError) as error:
        return " ".join(str(error).split())[:300]
    return ""


def calibrated(module, examples: dict, shapes, names: dict[str, str], per_channel: bool, samples_at: str | None):
    """The module with PT2E's quantize/dequantize pairs observed on the run's calibration samples, the quant
    config that tells litert-torch to lower them to int8 kernels, and a line saying what ran."""
    import torch
    from litert_torch.quantize import pt2e_quantizer
    from litert_torch.quantize.quant_config import QuantConfig
    from torchao.quantization.pt2e import quantize_pt2e

    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(pt2e_quantizer.get_symmetric_quantization_config(
        is_per_channel=per_channel, is_dynamic=False))
    graph = torch.export.export(module, (), examples, dynamic_shapes=shapes).module()
    graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
    fixed = fixed_output_scales(graph)
    samples = calibration(samples_at)
    with torch.no_grad():
        for sample in samples:
            graph(**{names[name]: torch.from_numpy(value) for name, value in sample.items() if name in names})
    graph = quantize_pt2e.convert_pt2e(graph, fold_quantize=False)
    scheme = "per-channel" if per_channel else "per-tensor"
    return graph, QuantConfig(pt2e_quantizer=quantizer), (
        f"static PT2E (PT2EQuantizer: int8 activations, symmetric {scheme} int8 weights), calibrated on "
        f"{len(samples)} samples" + (f"; {fixed} softmax/sigmoid outputs at LiteRT's fixed scale 1/256"
                                     if fixed else ""))


def fixed_output_scales(graph) -> int:
    """How many softmax and sigmoid outputs were given the fixed int8 scale LiteRT's kernels require (1/256, zero
    point -128). litert-torch's quantizer fixes it only for an aten._softmax whose input is already quantized;
    torch.export writes aten.softmax.int, often after a transpose, and the observed scale makes a file LiteRT
    refuses to run."""
    import torch
    from torchao.quantization.pt2e import FixedQParamsObserver, ObserverBase

    targets = {torch.ops.aten.softmax.int, torch.ops.aten._softmax.default, torch.ops.aten.sigmoid.default}
    fixed = 0
    for node in graph.graph.nodes:
        if node.op != "call_function" or node.target not in targets:
            continue
        for user in node.users:
            if user.op == "call_module" and isinstance(getattr(graph, user.target, None), ObserverBase):
                setattr(graph, user.target, FixedQParamsObserver(scale=1 / 256, zero_point=-128, dtype=torch.int8,
                                                                 quant_min=-128, quant_max=127))
                fixed += 1
    return fixed


def identifiers(names: list[str]) -> dict[str, str]:
    """Each tensor name as a Python identifier (the wrapper takes its inputs as keyword arguments): a name that is
    one stays as it is; another is spelled as runtimes.matching compares names (`input.1` -> `input_1`), so the
    TFLite tensor still pairs with the reference's by name."""
    spelled = {name: name if _usable(name) else sanitized(name) for name in names}
    for name, ident in spelled.items():
        if not _usable(ident):
            raise StepFailed(f"tensor name {name!r} has no Python identifier spelling; litert-torch names the "
                             "TFLite signature after the module's keyword arguments and output keys")
    if len(set(spelled.values())) != len(spelled):
        raise StepFailed(f"tensor names {names} are not distinct once spelled as identifiers: {spelled}")
    return spelled


def _usable(name: str) -> bool:
    return name.isidentifier() and not keyword.iskeyword(name)


def named(model, inputs: list[str], outputs: list[str]):
    """`model` taking its inputs by keyword and returning its outputs as a dict: litert-torch names the TFLite
    signature's inputs after the keywords and its outputs after the dict's keys."""
    import torch

    class Named(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, **feeds):
            result = self.model(*[feeds[name] for name in inputs])
            result = result if isinstance(result, (tuple, list)) else [result]
            if len(result) != len(outputs):
                raise StepFailed(f"the model returned {len(result)} outputs, the torch artifact declares "
                                 f"{len(outputs)} ({', '.join(outputs)})")
            return dict(zip(outputs, result, strict=True))

    wrapper = Named()
    # not .eval(): it would reach an ExportedProgram's module, which refuses train(); the model is in eval already
    wrapper.training = False
    return wrapper
