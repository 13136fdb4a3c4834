"""Benchmark one artifact in this (child) process: `python -m bench.worker REQUEST.json`.

One process per runtime keeps peak RSS per runtime and keeps runtimes that crash together (TF and torch)
apart. Load time includes the first inference (compilation often happens there).
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from bench.timing import summarize, timed_loop
from core.artifact import Artifact
from core.images import load_rgb
from core.prepost import Processing, preprocess
from validators.runtimes import Settings, load


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    artifact = Artifact.from_dict(request["artifact"])
    proc = Processing.from_config(request["processing"])
    images = [load_rgb(Path(p)) for p in request["images"]]

    start = time.perf_counter()
    runner = load(artifact, Settings(**request["settings"]))
    loaded = time.perf_counter()
    runner(preprocess(images, proc, runner.layout))
    first = time.perf_counter()

    loop = timed_loop(runner, images, proc, request["warmup"], request["runs"])
    infer = summarize(loop.infer_ms)
    result = {
        **runner.info(),
        "artifact": artifact.name,
        "format": artifact.format,
        "precision": artifact.precision,
        "batch": len(images),
        "threads": Settings(**request["settings"]).n_threads,
        "pre_ms": summarize(loop.pre_ms)["median"],
        "post_ms": summarize(loop.post_ms)["median"],
        "infer_ms": infer,
        "throughput_ips": len(images) * 1e3 / infer["median"],
        "load_s": first - start,
        "compile_s": loaded - start,
        "first_infer_s": first - loaded,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if loop.last and "boxes" in loop.last:  # NMS time grows with the boxes above the threshold
        result["boxes_per_image"] = [len(b) for b in loop.last["boxes"]]
    Path(request["result"]).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
