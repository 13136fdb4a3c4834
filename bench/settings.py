"""What each benchmark measurement runs with: the batch sizes of `bench.batch` and the mode each is measured in.
(The runtime settings of `bench.runtime` are each runtime module's Options, validated with the config.)

Plain data in, plain data out: the orchestrator builds worker requests from these without importing a runtime.
"""
from __future__ import annotations

from omegaconf import OmegaConf

from core.errors import UserError


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


def register_resolvers() -> None:
    """conf/model/bert.yaml: `${last_index:${model.config.vocab_size}}` (the highest token id)."""
    OmegaConf.register_new_resolver("last_index", lambda size: int(size) - 1, replace=True)


def mode_for(batch: int) -> str:
    """One image: latency (one request at a time). More: the runtime's throughput setting."""
    return "latency" if batch == 1 else "throughput"


def throughput_plan(batches: list[int], input_batch: int) -> list[tuple[int, str]]:
    """(batch, how) per requested batch: 'latency row' when the latency measurement at input.batch already
    is that measurement (batch 1 in latency mode), else 'measure' in mode_for(batch)."""
    return [(b, "latency row" if b == input_batch and mode_for(b) == "latency" else "measure") for b in batches]


def tune_candidates(tunables: tuple[dict, ...], threads: int | None, cores: int) -> list[dict]:
    """bench.tune's candidates for one runtime: the settings as configured ({}), each of its tunables, and, where
    bench.threads leaves every core to it, one thread (a small model can lose more to threads waiting on each other
    than it gains). Each is an override for runtimes.base.with_override."""
    candidates = [{}, *({"options": tunable} for tunable in tunables)]
    if threads is None and cores > 1:
        candidates.append({"threads": 1})
    return candidates

