"""The two roads to TFLite side by side, measured in one run: onnx2tf (torch -> ONNX -> onnxsim -> TF SavedModel ->
TFLite) against litert-torch (torch.export -> TFLite), per model, at fp32.

    python tools/roads.py [--models resnet18,mobilenet_v3_small,yolov8n] [--runs 50]

One sweep over the models, from an empty conversion cache (so every conversion is timed, none reused), with only
the steps the two roads need. Per road: conversion seconds (the sum of its steps), parity against PyTorch (worst
absolute error), median inference ms on the same TFLite runtime, file size. The machine's CPU and ISA flags are
printed beside the table; the weights are random (no hub here), so parity is agreement on those weights.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pipeline.child import child_env  # noqa: E402 - after the path set-up above
from pipeline.config import available  # noqa: E402
from pipeline.results import RunResults, load_results  # noqa: E402

# the steps of each road, in the order they run; the artifact each ends in is its last step's
ROADS = {"onnx2tf": ["export", "simplify", "tf", "tflite_fp32"], "litert-torch": ["litert"]}
DROPPED = ["openvino", "onnx_lowp", "tflite_fp16", "tflite_int8"]


def sweep(models: list[str], runs: int, workdir: Path) -> Path:
    out = workdir / "sweep"
    command = [sys.executable, "convert.py", "-m", "+graph=all", f"model={','.join(models)}", "precision=fp32",
               *[f"~graph.steps.{step}" for step in DROPPED], f"bench.runs={runs}", f"hydra.sweep.dir={out}"]
    print("$ " + " ".join(command[1:]), flush=True)
    env = {**child_env(), "CONVGRAPH_CACHE": str(workdir / "cache")}
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if not any(out.glob("*/results.json")):
        sys.exit(f"the sweep wrote no results.json (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return out


def road_row(results: RunResults, road: str, steps: list[str]) -> list[str]:
    records = {s.name: s for s in results.steps}
    if steps[-1] not in records:  # the graph left it out: a source of another format (an ONNX file: no torch road)
        return [results.model, road, "not run", f"the source is {results.artifacts[0].format}, not torch" if
                results.artifacts else "", "-", "-", "-"]
    stopped = next((records[s] for s in steps if s in records and records[s].status in ("failed", "n/a")), None)
    if stopped is not None:  # failed, or n/a (e.g. litert-torch on a model that is an ONNX file)
        why = stopped.error if stopped.status == "failed" else stopped.reason
        return [results.model, road, f"{stopped.status} at {stopped.name}", (why or "")[:60], "-", "-", "-"]
    seconds = sum(records[s].seconds or 0.0 for s in steps if s in records)
    last = steps[-1]
    artifact, parity = results.artifact(last), results.parity_of(last)
    bench = next((b for b in results.ok_bench() if b.artifact == last), None)
    worst = parity.worst_abs() if parity else None
    verdict = "-" if parity is None else ("passed" if parity.passed else "FAILED") + (
        "" if worst is None else f" (max abs {worst:.2e})")
    return [results.model, road, f"{seconds:.1f}", verdict,
            "-" if bench is None or bench.infer_ms is None else f"{bench.infer_ms.median:.2f}",
            "-" if artifact is None else f"{artifact.bytes / 1e6:.1f}",
            (bench.executed_precision or bench.precision or "-") if bench else "-"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet18,mobilenet_v3_small,yolov8n")
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    models, known = args.models.split(","), available("model")
    unknown = [m for m in models if m not in known]
    if unknown:
        parser.error(f"--models {','.join(unknown)}: not a model config; give a comma-separated list of "
                     f"{', '.join(known)}")
    if args.runs < 1:
        parser.error(f"--runs {args.runs}: give at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        out = sweep(models, args.runs, Path(tmp))
        jobs = [load_results(p.parent) for p in sorted(out.glob("*/results.json"))]
    rows = [road_row(results, road, steps) for results in jobs for road, steps in ROADS.items()]
    print(tabulate(rows, headers=["model", "road", "conversion s", "parity vs PyTorch", "median ms", "size MB",
                                  "executes in"], tablefmt="github", disable_numparse=True))
    cpu = next((r.environment.cpu for r in jobs if r.environment), None)
    weights = ", ".join(f"{r.model} {r.weights or '?'}" for r in jobs)
    if cpu:
        print(f"\nmachine: {cpu.model}, {cpu.cores} cores, flags {' '.join(cpu.flags) or '-'}; TFLite runtime for "
              f"both roads; weights: {weights} (agreement on random weights is not evidence for a trained model)")


if __name__ == "__main__":
    main()
