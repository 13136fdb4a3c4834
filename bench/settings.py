"""What each benchmark measurement runs with: the batch sizes of `bench.batch`, the mode each is measured in
and the runtime settings of `bench.runtime` (checked here, applied by validators/runtimes.py).

Plain data in, plain data out: the orchestrator builds worker requests from these without importing a runtime.
"""
from __future__ import annotations

from omegaconf import OmegaConf

from bench.report import RUNTIME_LABEL
from core.errors import UserError

# allowed values of the `bench.runtime` keys that are choices (the rest are numbers or verbatim dicts)
CHOICES = {
    ("onnxruntime", "graph_optimization_level"): ("disable", "basic", "extended", "layout", "all"),
    ("onnxruntime", "execution_mode"): ("sequential", "parallel"),
    ("openvino", "latency_hint"): ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"),
    ("openvino", "throughput_hint"): ("LATENCY", "THROUGHPUT", "CUMULATIVE_THROUGHPUT"),
    ("tflite", "xnnpack"): (True, False),
}
THREAD_KEYS = ("inter_op_threads",)
RUNTIMES = tuple(RUNTIME_LABEL)


def batch_sizes(value) -> list[int]:
    """`bench.batch` (null, an int, a list of ints, or "1,4") -> distinct batch sizes in the order given."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [part.strip() for part in value.strip("[]").split(",") if part.strip()]
    items = [value] if isinstance(value, (int, float, bool)) else list(value)  # a list or Hydra's ListConfig
    sizes: list[int] = []
    for item in items:
        try:
            size = int(item) if not isinstance(item, (bool, float)) else None
        except (TypeError, ValueError):
            size = None
        if size is None or size < 1:
            raise UserError(f"bench.batch={_show(value)} is not allowed; give a batch size >= 1 or a list of them, "
                            "e.g. bench.batch=[1,4]")
        if size not in sizes:
            sizes.append(size)
    return sizes


def _show(value) -> str:
    return repr(value) if isinstance(value, (int, float, bool, str)) else "[" + ",".join(str(v) for v in value) + "]"


def needs_dynamic_batch(batch, input_batch) -> bool:
    """Does bench.batch ask for a batch the export's fixed input.batch could not take?"""
    return any(size != input_batch for size in batch_sizes(batch))


# conf/step/torch_to_onnx.yaml: `dynamic_batch: ${needs_dynamic_batch:${bench.batch},${input.batch}}`; registered
# on import (pipeline.config_check imports this module, and convert.py that one, before any config resolves)
OmegaConf.register_new_resolver("needs_dynamic_batch", needs_dynamic_batch, replace=True)


def mode_for(batch: int) -> str:
    """One image: latency (one request at a time). More: the runtime's throughput setting."""
    return "latency" if batch == 1 else "throughput"


def throughput_plan(batches: list[int], input_batch: int) -> list[tuple[int, str]]:
    """(batch, how) per requested batch: 'latency row' when the latency measurement at input.batch already
    is that measurement (batch 1 in latency mode), else 'measure' in mode_for(batch)."""
    return [(b, "latency row" if b == input_batch and mode_for(b) == "latency" else "measure") for b in batches]


def check_runtime_options(options: dict | None) -> dict:
    """`bench.runtime` -> the same dict, or a UserError naming the first bad key."""
    options = options or {}
    for runtime, block in options.items():
        if runtime not in RUNTIMES:
            raise UserError(f"bench.runtime.{runtime} is not a runtime; known: {', '.join(RUNTIMES)}")
        for key, value in (block or {}).items():
            allowed = CHOICES.get((runtime, key))
            if allowed is not None and value not in allowed:
                raise UserError(f"bench.runtime.{runtime}.{key}={value!r} is not allowed; allowed: "
                                f"{', '.join(str(a) for a in allowed)}")
            if key in THREAD_KEYS and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UserError(f"bench.runtime.{runtime}.{key}={value!r} is not allowed; give an integer >= 1")
    return options


def check_noisy_cv(value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise UserError(f"bench.noisy_cv={value!r} is not allowed; give a number > 0 (e.g. 0.10) or null")
    return float(value)


def check_bench(bench) -> None:
    """The bench keys this module owns (bench.batch, bench.noisy_cv, bench.runtime), one line per bad value."""
    batch_sizes(bench.get("batch"))
    check_noisy_cv(bench.get("noisy_cv"))
    runtime = bench.get("runtime")
    check_runtime_options(OmegaConf.to_container(runtime, resolve=True) if runtime is not None else None)
