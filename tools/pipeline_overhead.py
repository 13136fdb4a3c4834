"""What the toolkit costs on top of the libraries: `+graph=all` per step next to the raw library calls.

    python tools/pipeline_overhead.py [--model yolov8n] [--repeat 1]

In one invocation: `convert.py +graph=all model=M bench.enabled=false cache.enabled=false` (every step
converts; parity checks run but are not conversion time), then the same conversions as raw library calls with
the same options, on the same source model (the run's model.pt): torch.onnx.export, onnxsim.simplify,
openvino.convert_model + save_model, the onnx2tf CLI, tf.lite.TFLiteConverter (fp32 and fp16).

Like-for-like: every pipeline step runs in its own process, so each raw group runs as its own fresh process too
(a user's script or command per library; TF next to torch crashed here) and its wall time includes its imports.
The time inside the library call alone is printed beside it. --repeat 2 runs ours, raw, raw, ours (medians).
Goal: our total conversion time at most 1.2x the raw processes' total.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pipeline.child import child_env  # noqa: E402 - after the path set-up above
from pipeline.results import load_results  # noqa: E402

GOAL = 1.2
# pipeline step -> the raw call doing the same conversion
RAW_CALLS = {"export": "torch.onnx.export", "simplify": "onnxsim.simplify", "openvino": "ov.convert_model+save_model",
             "tf": "onnx2tf CLI", "tflite_fp32": "TFLiteConverter fp32", "tflite_fp16": "TFLiteConverter fp16"}

# The raw scripts: minimal code a user would write, each printing {"call_s": seconds inside the library call}.
RAW_EXPORT = """
import json, sys, time, torch
model = torch.load(sys.argv[1], weights_only=False).eval()
opset, dynamic, shape, outputs = int(sys.argv[2]), sys.argv[3] == "1", json.loads(sys.argv[4]), json.loads(sys.argv[5])
x = torch.randn(2 if dynamic else shape[0], *shape[1:])
start = time.perf_counter()
if opset >= 18:
    torch.onnx.export(model, (x,), "export.onnx", opset_version=opset, dynamo=True, input_names=["input"],
                      output_names=outputs, external_data=False, optimize=True,
                      dynamic_shapes=({0: torch.export.Dim("batch", min=1)},) if dynamic else None)
else:
    axes = {name: {0: "batch"} for name in ["input", *outputs]} if dynamic else None
    torch.onnx.export(model, (x,), "export.onnx", opset_version=opset, dynamo=False, input_names=["input"],
                      output_names=outputs, dynamic_axes=axes)
print(json.dumps({"call_s": time.perf_counter() - start}))
"""
RAW_SIMPLIFY = """
import json, time, onnx, onnxsim
start = time.perf_counter()
model, ok = onnxsim.simplify(onnx.load("export.onnx"), check_n=3)
onnx.save(model, "simplified.onnx")
print(json.dumps({"call_s": time.perf_counter() - start}))
"""
RAW_OPENVINO = """
import json, time, openvino as ov
start = time.perf_counter()
ov.save_model(ov.convert_model("simplified.onnx"), "ir/model.xml", compress_to_fp16=False)
print(json.dumps({"call_s": time.perf_counter() - start}))
"""
RAW_TFLITE = """
import json, time, tensorflow as tf
calls = {}
for precision in ("fp32", "fp16"):
    start = time.perf_counter()
    converter = tf.lite.TFLiteConverter.from_saved_model("saved_model", signature_keys=["serving_default"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS, tf.lite.OpsSet.SELECT_TF_OPS]
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    open(f"model_{precision}.tflite", "wb").write(converter.convert())
    calls[precision] = time.perf_counter() - start
print(json.dumps({"call_s": calls}))
"""


def run_ours(model: str, workdir: Path) -> dict:
    run_dir = workdir / f"ours-{time.monotonic_ns()}"
    command = [sys.executable, "convert.py", "+graph=all", f"model={model}", "bench.enabled=false",
               "cache.enabled=false", f"hydra.run.dir={run_dir}"]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if not (run_dir / "results.json").exists():
        sys.exit(f"convert.py wrote no results.json (exit {proc.returncode}): {proc.stderr[-2000:]}")
    results = load_results(run_dir)
    steps = {s.name: s for s in results.steps}
    failed = [f"{n}: {s.error}" for n, s in steps.items() if n in RAW_CALLS and s.status != "ok"]
    if failed:
        sys.exit("pipeline steps did not convert: " + "; ".join(failed))
    return {"results": results, "run_dir": run_dir, "wall_s": wall,
            "steps": {n: steps[n].seconds for n in RAW_CALLS}, "model_s": steps["model"].seconds}


def _timed(command: list[str], cwd: Path) -> tuple[float, dict]:
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=child_env(), capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"raw call failed ({' '.join(command[:4])}...): {proc.stderr[-2000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith('{"call_s"')]
    return wall, json.loads(lines[-1]) if lines else {}


def run_raw(ours: dict, workdir: Path) -> dict:
    """The same conversions by hand, in a fresh directory, on the pipeline's own source model."""
    from converters.onnx_to_tf import CALIBRATION_FILE, calibration_sample

    folder = workdir / f"raw-{time.monotonic_ns()}"
    (folder / "ir").mkdir(parents=True)
    artifacts = {a.name: a for a in ours["results"].artifacts}
    export_meta = artifacts["export"].meta
    python = sys.executable
    wall, inside = {}, {}
    model = artifacts["model"]
    wall["export"], out = _timed([python, "-c", RAW_EXPORT, model.path, str(export_meta["opset"]),
                                  "1" if export_meta.get("dynamic_batch") else "0", json.dumps(model.inputs[0].shape),
                                  json.dumps([o.name for o in model.outputs])], folder)
    inside["export"] = out.get("call_s")
    wall["simplify"], out = _timed([python, "-c", RAW_SIMPLIFY], folder)
    inside["simplify"] = out.get("call_s")
    wall["openvino"], out = _timed([python, "-c", RAW_OPENVINO], folder)
    inside["openvino"] = out.get("call_s")
    import numpy as np

    np.save(folder / CALIBRATION_FILE, calibration_sample())  # offline, onnx2tf needs it in its cwd
    shutil.copy(folder / "simplified.onnx", folder / "for_onnx2tf.onnx")  # onnx2tf rewrites its input
    wall["tf"], _ = _timed([python, "-m", "onnx2tf", "-i", "for_onnx2tf.onnx", "-o", "saved_model", "-v", "warn"],
                           folder)
    inside["tf"] = wall["tf"]  # a CLI: its process is the call
    tflite_wall, out = _timed([python, "-c", RAW_TFLITE], folder)
    calls = out.get("call_s") or {}
    # one process converts both (the script a user writes); its imports are split between the two by call time
    total_calls = sum(calls.values()) or 1.0
    for precision in ("fp32", "fp16"):
        wall[f"tflite_{precision}"] = tflite_wall * calls.get(precision, 0.0) / total_calls
        inside[f"tflite_{precision}"] = calls.get(precision)
    return {"wall": wall, "inside": inside, "tflite_process_s": tflite_wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolov8n")
    parser.add_argument("--repeat", type=int, default=1, help="pairs of runs, alternating order (ours, raw, raw, ours)")
    args = parser.parse_args()
    ours_runs, raw_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        for index in range(args.repeat):
            order = ("ours", "raw") if index % 2 == 0 else ("raw", "ours")
            for which in order:
                print(f"[{index + 1}/{args.repeat}] {which} ...", flush=True)
                if which == "ours":
                    ours_runs.append(run_ours(args.model, workdir))
                else:
                    raw_runs.append(run_raw(ours_runs[-1], workdir))  # round 1 runs ours first: raw uses its model.pt
    print_report(args.model, ours_runs, raw_runs)


def print_report(model: str, ours_runs: list[dict], raw_runs: list[dict]) -> None:
    def median(values):
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    print(f"\nmodel {model}, +graph=all, cold (cache.enabled=false); {len(ours_runs)} pipeline run(s), "
          f"{len(raw_runs)} raw run(s), medians; seconds")
    rows = []
    total_ours = total_raw = total_inside = 0.0
    for step, call in RAW_CALLS.items():
        ours = median([r["steps"][step] for r in ours_runs])
        raw = median([r["wall"][step] for r in raw_runs])
        inside = median([r["inside"][step] for r in raw_runs])
        total_ours, total_raw, total_inside = total_ours + ours, total_raw + raw, total_inside + (inside or 0)
        rows.append([step, f"{ours:.1f}", call, f"{raw:.1f}", f"{inside or 0:.1f}", f"{ours / raw:.2f}"])
    ratio = total_ours / total_raw
    rows.append(["total", f"{total_ours:.1f}", "", f"{total_raw:.1f}", f"{total_inside:.1f}",
                 f"{ratio:.2f}   goal <= {GOAL}: {'ok' if ratio <= GOAL else 'NOT MET'}"])
    print(tabulate(rows, headers=["step", "ours (step process)", "raw call", "raw process", "inside call",
                                  "ours/raw"], tablefmt="simple", disable_numparse=True))
    tflite = median([r["tflite_process_s"] for r in raw_runs])
    print(f"(raw TFLite: one process converted fp32 and fp16, {tflite:.1f} s, split by call time; "
          f"the pipeline runs them as two steps, two processes)")
    wall = median([r["wall_s"] for r in ours_runs])
    model_s = median([r["model_s"] for r in ours_runs])
    print(f"whole convert.py run: {wall:.1f} s = conversions {total_ours:.1f} + building the model {model_s:.1f} "
          f"+ parity checks and orchestration {wall - total_ours - model_s:.1f}")


if __name__ == "__main__":
    main()
