"""ONNX Runtime int8 variants side by side: which quantization settings of the onnx_lowp step run fastest on this
CPU, how close each stays to the reference, and where each one's time goes.

    python tools/int8_variants.py RUN_DIR [--rounds 6] [--runs 10] [--variants NAME,...] [--threads N]

RUN_DIR: a run with precision=int8 (it holds the simplified fp32 ONNX, calibration.npz, inputs.npz and the
PyTorch reference's outputs in parity/model.npz). Every variant is made by the onnx_lowp step's own convert()
from the same fp32 file and calibration set. All sessions (the fp32 file too) live in this one process with the
pipeline's ONNX Runtime settings and are timed round by round, each round in a rotated order, so a burst of load
from elsewhere hits all of them; the medians are over every round's samples, `vs fp32 per round` is the median
over rounds of (the variant's round median / fp32's round median), and `round medians` spans the quietest to
the busiest round (on a shared machine the quietest is the closest to what the kernels can do). Agreement: each
output's cosine and the task agreement against the PyTorch reference, as the parity check computes them (random
weights: a check that the quantization does not break the model, not evidence of accuracy on a trained one).
Where the time goes: the ORT profiler (runtimes.onnxruntime.profile) per op type and per executed precision.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from filelock import FileLock
from tabulate import tabulate

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.timing import OtherLoad  # noqa: E402 - after the path set-up above
from converters import onnx_precision  # noqa: E402
from converters.step_io.step_inputs import StepInputs  # noqa: E402
from core.samples import call, per_item, samples_in, stacked  # noqa: E402
from pipeline.results import load_results  # noqa: E402
from runtimes import onnxruntime as ort_runtime  # noqa: E402
from runtimes.base import Settings  # noqa: E402
from validators.parity import compare  # noqa: E402
from validators.task_metrics import task_agreement  # noqa: E402

BASE = {"quant_format": "QDQ", "per_channel": True, "reduce_range": True, "activation_type": "uint8",
        "weight_type": "int8", "float_tail": False}  # the step's defaults before this comparison
VARIANTS = {  # name -> what differs from BASE
    "qdq_u8s8_pc_rr": {},
    "qdq_u8s8_pc": {"reduce_range": False},
    "qdq_u8s8_pt": {"reduce_range": False, "per_channel": False},
    "qdq_s8s8_pc": {"reduce_range": False, "activation_type": "int8"},
    "qdq_u8u8_pc": {"reduce_range": False, "weight_type": "uint8"},
    "qdq_u8s8_pc_tail": {"reduce_range": False, "float_tail": True},
    "qdq_u8s8_pt_tail": {"reduce_range": False, "per_channel": False, "float_tail": True},
    "qop_u8s8_pc_tail": {"quant_format": "QOperator", "reduce_range": False, "float_tail": True},
    "qop_u8s8_pc_rr": {"quant_format": "QOperator"},
    "qop_u8s8_pc": {"quant_format": "QOperator", "reduce_range": False},
    "qop_s8s8_pc": {"quant_format": "QOperator", "reduce_range": False, "activation_type": "int8"},
}


def make_variants(results, run_dir: Path, names: list[str], workdir: Path) -> dict:
    simplify = results.artifact("simplify")
    made = {"fp32": simplify}
    for name in names:
        options = onnx_precision.Options(**{**BASE, **VARIANTS[name], "precision": "int8"})
        started = time.perf_counter()
        (workdir / name).mkdir()
        run = StepInputs(calibration=str(run_dir / "calibration.npz"))
        (made[name],) = onnx_precision.convert(simplify, options, run, workdir / name)
        print(f"made {name} in {time.perf_counter() - started:.1f}s", flush=True)
    return made


def agreement(results, run_dir: Path, artifact, session) -> tuple[float, float | None]:
    """(min cosine over outputs, task agreement) against the PyTorch reference on the run's inputs."""
    with np.load(run_dir / "inputs.npz") as data:
        inputs = {name: data[name] for name in data.files}
    with np.load(run_dir / "parity" / "model.npz") as data:
        reference = [data[f"arr_{i}"] for i in range(len(data.files))]
    outputs = stacked([session.run(None, call(inputs, i)) for i in range(samples_in(inputs))])
    reference, outputs = per_item(reference), per_item(outputs)  # judged per image, as parity judges
    tolerance = results.config["validate"]["tolerances"]["int8"]
    report = compare(artifact.name, "model", "int8", reference, outputs, [o.name for o in artifact.outputs],
                     tolerance)
    task = task_agreement(reference, outputs, results.processing, results.config["validate"]["task"], "int8")
    return min(o.cosine for o in report.outputs), (task or {}).get("agreement")


def where_time_goes(artifact, settings: Settings, feed: dict) -> tuple[str, str, str]:
    profile = ort_runtime.profile(artifact, settings, feed, 5)
    by_op, by_precision = defaultdict(float), defaultdict(float)
    for node in profile["nodes"]:
        by_op[node["op_type"]] += node["share"]
        by_precision[node["precision"]] += node["share"]

    def top(shares, n):
        return ", ".join(f"{k} {v:.0%}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])[:n])
    return top(by_op, 6), top(by_precision, 4), f"{profile['nodes_ms']:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--runs", type=int, default=10, help="timed inferences per variant per round")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--threads", type=int, default=0, help="0: all cores (the pipeline's default)")
    args = parser.parse_args()
    import onnxruntime as ort

    results = load_results(args.run_dir)
    settings = Settings(threads=args.threads, options={"onnxruntime": results.config["bench"]["runtime"]
                                                       .get("onnxruntime") or {}})
    with tempfile.TemporaryDirectory(prefix="int8-variants-") as folder:
        made = make_variants(results, args.run_dir, args.variants.split(","), Path(folder))
        sessions = {name: ort.InferenceSession(a.path, ort_runtime.session_options(settings)[0],
                                               providers=["CPUExecutionProvider"]) for name, a in made.items()}
        with np.load(args.run_dir / "inputs.npz") as data:
            feed = call(data, 0)
        names, samples, rounds = list(sessions), defaultdict(list), defaultdict(list)
        # the machine-wide benchmark lock: no pipeline benchmark (ours or a neighbour's) runs meanwhile
        with FileLock(results.config["bench"]["lock_file"]), OtherLoad() as elsewhere:
            for r in range(args.rounds):
                for name in names[r % len(names):] + names[: r % len(names)]:
                    session = sessions[name]
                    for _ in range(2):
                        session.run(None, feed)
                    times = []
                    for _ in range(args.runs):
                        start = time.perf_counter()
                        session.run(None, feed)
                        times.append((time.perf_counter() - start) * 1e3)
                    samples[name] += times
                    rounds[name].append(statistics.median(times))
        fp32 = statistics.median(samples["fp32"])
        table = []
        for name in names:
            median = statistics.median(samples[name])
            cosine, task = agreement(results, args.run_dir, made[name], sessions[name])
            ops, precisions, nodes_ms = where_time_goes(made[name], settings, feed)
            ratio = statistics.median(m / f for m, f in zip(rounds[name], rounds["fp32"], strict=True))
            table.append([name, f"{median:.2f}", f"{np.percentile(samples[name], 90):.2f}", f"{median / fp32:.2f}",
                          f"{ratio:.2f}", f"{min(rounds[name]):.1f}-{max(rounds[name]):.1f}", f"{cosine:.4f}",
                          "-" if task is None else f"{task:.3f}", nodes_ms, ops, precisions])
    print(tabulate(table, headers=["variant", "median ms", "p90", "vs fp32", "vs fp32 per round", "round medians",
                                   "min cosine",
                                   "task agr.", "profiled ms", "time by op type", "by executed precision"],
                   tablefmt="github", disable_numparse=True))
    flags = sorted({f for f in (results.environment.cpu.flags if results.environment else [])})
    print(f"\n{results.model}, {args.rounds} rounds x {args.runs} inferences per variant, threads "
          f"{settings.n_threads}; CPU {', '.join(flags)}; other processes kept "
          f"{'?' if elsewhere.cores is None else f'{elsewhere.cores:.2f}'} cores busy on average meanwhile")
    return 0


if __name__ == "__main__":
    sys.exit(main())
