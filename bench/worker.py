"""Benchmark one artifact in this (child) process: `python -m bench.worker REQUEST.json`.

One process per runtime keeps peak RSS per runtime and keeps runtimes that crash together (TF and torch)
apart. Cold start is recorded in two parts: load/compile (`compile_s`) and the first inference
(`first_infer_s`, where some runtimes still compile); `load_s` is their sum.

Latency mode (settings.mode): the shared timed loop, pre / inference / post per iteration. Throughput mode:
images/s of inference on one prepared batch with the runtime's throughput setting (bench.timing.throughput_run).
With bench.profile the latency measurement also records the runtime's per-node profile (runtimes/profiling.py),
made after the timed loop on a separate profiling instance of the artifact.
With `progress` (a file the live view reads: bench/progress_slot.py) it says which phase and iteration it is at.
The request and the reply: bench/worker_protocol.py.
"""
from __future__ import annotations

import resource
import sys
import time
from pathlib import Path

import numpy as np

from bench.progress_slot import Slot
from bench.timing import OtherLoad, summarize, throughput_run, timed_loop
from bench.worker_protocol import BenchReply, BenchRequest
from core.artifact import Artifact
from core.child_exit import exit_now
from core.child_protocol import ProtocolError, parse
from core.feeds import make_inputs
from core.images import load_rgb
from core.prepost import Processing, postprocess
from core.samples import rebatched
from runtimes import for_format, load
from runtimes.base import Settings
from runtimes.profiling import unavailable

PROFILE_RUNS = 10  # bench.profile: inferences profiled (after the hook's warm-up), each averaged per node


def load_feeds(request: BenchRequest):
    """(feeds, photos, data): what the inputs of the one call timed are made from, read before anything is timed.
    A data input holds `rows` batch items along its batch axis, the input set's first ones (cycled when it holds
    fewer); one without a batch axis is the first sample's value."""
    feeds = list(request.feeds)
    images = [load_rgb(Path(p)) for p in request.images]
    data, arrays_for = {}, [f for f in feeds if f.kind == "data"]
    if arrays_for:
        with np.load(request.data) as arrays:
            data = {f.name: rebatched(arrays[f.name], f.batch_axis, request.rows) for f in arrays_for}
    return feeds, images, data


def node_profile(artifact: Artifact, settings: Settings, inputs: dict, onnx: str | None) -> dict:
    """bench.profile: the runtime's per-node profile (its Runtime.profile hook), or why there is none."""
    runtime = for_format(artifact.format)
    if runtime.profile is None:
        return unavailable(f"convgraph has no per-node profile hook for {runtime.label}")
    try:
        return runtime.profile(artifact, settings, inputs, PROFILE_RUNS, onnx)
    except Exception as error:  # a profile is extra: the measurement stands without it
        return unavailable(f"{runtime.label}'s profiler failed: {type(error).__name__}: {error}".splitlines()[0])


def main(request_path: str) -> int:
    try:
        request = BenchRequest.read(request_path)
    except ProtocolError as error:  # the parent reads the log's last line when no reply comes
        print(f"error: {error}", file=sys.stderr)
        return 2
    artifact, settings = request.artifact, request.settings
    proc = Processing.from_config(request.processing)
    feeds, images, data = load_feeds(request)
    tick = Slot(request.progress)  # starts at "loading": the parent zeroed it

    start = time.perf_counter()
    runner = load(artifact, settings)
    loaded = time.perf_counter()

    def prepare():
        return make_inputs(feeds, proc, images, data, runner.layouts)

    inputs, _ = prepare()
    before_first = time.perf_counter()
    runner(inputs)
    first = time.perf_counter()

    result = {
        **runner.info(),
        "artifact": artifact.name,
        "format": artifact.format,
        "precision": artifact.precision,
        "batch": request.rows,
        "mode": settings.mode,
        "threads": settings.n_threads,
        "load_s": loaded - start + first - before_first,
        "compile_s": loaded - start,
        "first_infer_s": first - before_first,
    }
    if settings.mode == "throughput":
        with OtherLoad() as load_elsewhere:
            ips = throughput_run(runner, inputs, request.warmup, request.runs, tick=tick or None)
        result.update(images_per_s=ips, throughput_ips=ips["median"])
    else:
        with OtherLoad() as load_elsewhere:
            loop = timed_loop(runner, prepare, lambda outputs, meta: postprocess(outputs, proc, meta),
                              request.warmup, request.runs, tick=tick or None)
        infer = summarize(loop.infer_ms)
        result.update(pre_ms=summarize(loop.pre_ms)["median"], post_ms=summarize(loop.post_ms)["median"],
                      infer_ms=infer, throughput_ips=request.rows * 1e3 / infer["median"])
        if loop.last and "boxes" in loop.last:  # NMS time grows with the boxes above the threshold
            result["boxes_per_image"] = [len(b) for b in loop.last["boxes"]]
        if request.profile:  # after the timed loop, on an instance of its own: the numbers above stay clean
            tick("profile")
            result["profile"] = node_profile(artifact, settings, inputs, request.onnx)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["other_load_cores"] = load_elsewhere.cores  # other processes' CPU use meanwhile: why a row is noisy
    parse(BenchReply, result, "the measurement").write(Path(request.result))
    samples = result["images_per_s" if settings.mode == "throughput" else "infer_ms"]["n"]
    tick("done", samples, samples)  # the view's last word: the timed samples taken
    tick.close()
    return 0


if __name__ == "__main__":
    exit_now(main(sys.argv[1]))
