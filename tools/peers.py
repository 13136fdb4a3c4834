"""What a user would do instead of convgraph, timed in the same run as convgraph's pick, on the same inputs:

    python tools/peers.py [--model ppocr_det] [--runs 50] [--max-drop 0.01] [--out DIR] [--sweep DIR] [-- OVERRIDES]

One convgraph sweep (`convert.py -m +graph=all ... +select=latency`, as tools/low_precision.py runs it; or an
existing one with --sweep) gives the pick. Then, on the ONNX file the run converted and its inputs.npz, the peers a
user gets with no options: OpenVINO's `compile_model(onnx, "CPU")` (no hint: bf16 on a CPU with native bf16,
AVX-512 bf16 or AMX; f32 on AVX2), ONNX Runtime's `InferenceSession(onnx)`, LiteRT on onnx2tf's float32 .tflite
(`onnx2tf -i model.onnx`), and for an Ultralytics model its own OpenVINO and ONNX exports through its predictor's
AutoBackend. Each row (the pick too, re-timed here) is one child process (tools/peers_run.py) timed by bench.timing's
shared loop, its outputs on every judged sample scored by the judge the run used (tools/peers_judge.py). Printed:
the table, and the ratio of the fastest peer whose accuracy drop is <= --max-drop to the pick, with the CPU flags.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from statistics import mean, median

from tabulate import tabulate

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from pipeline.child import child_env  # noqa: E402 - after the path set-up above
from pipeline.config import available  # noqa: E402
from pipeline.decision import load_selection  # noqa: E402
from pipeline.results import RunResults, load_results  # noqa: E402
from runtimes.base import settings_data, with_override  # noqa: E402
from tools.low_precision import CASES  # noqa: E402 - the same sweeps the low-precision targets are shown by
from tools.peers_judge import Judge, read_npz  # noqa: E402
from tools.peers_make import onnx2tf, ultralytics  # noqa: E402

PRECISIONS = "fp32,bf16,int8"  # a model tools/low_precision.py has no case for
TIMEOUT_S = 1800.0


def sweep(model: str, precisions: str | None, runs: int, out: Path, extra: list[str]) -> Path:
    case = CASES.get(model, {"overrides": [f"model={model}", f"precision={PRECISIONS}"]})["overrides"]
    overrides = [o for o in case if not (precisions and o.startswith("precision="))]
    command = [sys.executable, "convert.py", "-m", "+graph=all", *overrides,
               *([f"precision={precisions}"] if precisions else []), "+select=latency", f"bench.runs={runs}",
               *extra, f"hydra.sweep.dir={out}"]
    print("$ " + " ".join(command[1:]), flush=True)
    proc = subprocess.run(command, cwd=REPO, env=child_env(), capture_output=True, text=True)
    if not (out / "selection.json").is_file():
        sys.exit(f"the sweep wrote no selection.json (exit {proc.returncode}; see {out}):\n{proc.stderr[-1500:]}")
    return out


def the_pick(swept: Path) -> tuple[RunResults, str, Path]:
    """(the pick's job results, the picked artifact's name, its run dir) from the sweep's decision."""
    decision = load_selection(swept)
    if not decision.pick:
        sys.exit(f"the sweep picked nothing: {decision.reason}")
    job, name = decision.pick.split("/", 1)
    return load_results(swept / job), name, swept / job


def peers(results: RunResults, workdir: Path) -> list[tuple[str, str, object]]:
    """(label, peer kind, artifact or why it is missing) of every peer of this run's model."""
    onnx = next((a for a in results.artifacts if a.format == "onnx" and a.precision == "fp32"), None)
    if onnx is None:
        sys.exit(f"the {results.model} run made no fp32 ONNX file for the peers to start from")
    if not Path(onnx.path).exists():
        sys.exit(f"the run's ONNX file {onnx.path} is gone (a cleaned cache?): run the sweep again")
    env = child_env()
    rows = [("OpenVINO defaults", "openvino", onnx), ("ONNX Runtime defaults", "onnxruntime", onnx),
            ("TFLite from onnx2tf defaults", "tflite", onnx2tf(onnx, workdir, env, TIMEOUT_S))]
    if any(d < 0 for spec in onnx.inputs for d in spec.shape):  # what a user does next when a size is dynamic
        shapes = {t["name"]: t["shape"] for t in results.inputs.tensors}
        rows.append(("TFLite from onnx2tf, input shapes fixed (-ois)", "tflite",
                     onnx2tf(onnx, workdir, env, TIMEOUT_S, shapes)))
    if results.config.get("model", {}).get("source") == "ultralytics":
        made = ultralytics(results.artifact(results.reference_name()), workdir, env, TIMEOUT_S)
        rows += [(f"Ultralytics export ({fmt}) + predictor", "ultralytics", artifact)
                 for fmt, artifact in made.items()]
    return rows


def measure(kind: str, artifact, request: dict, workdir: Path, tag: str) -> dict:
    """One row's child (tools/peers_run.py): its timing and its outputs on every sample, or {"error": why}."""
    if isinstance(artifact, str):
        return {"error": artifact}
    paths = {key: workdir / f"{tag}.{key}" for key in ("request.json", "result.json", "outputs.npz", "log")}
    paths["request.json"].write_text(json.dumps({**request, "peer": kind, "artifact": artifact.to_dict(),
                                                 "result": str(paths["result.json"]),
                                                 "outputs": str(paths["outputs.npz"])}))
    print(f"measuring {tag} ...", flush=True)
    try:
        proc = subprocess.run([sys.executable, "-m", "tools.peers_run", str(paths["request.json"])], cwd=REPO,
                              env=child_env(), capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish in {TIMEOUT_S:g} s"}
    paths["log"].write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not paths["result.json"].is_file():
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        return {"error": f"failed (exit {proc.returncode}): {(lines or ['no output'])[-1][:160]}"}
    return {**json.loads(paths["result.json"].read_text()), "outputs": read_npz(paths["outputs.npz"])}


def measure_all(results: RunResults, pick: str, run_dir: Path, runs: int, workdir: Path,
                rounds: int = 3) -> list[dict]:
    """The pick, then every peer, each as {label, kind, runtime, executed, median_ms, value, drop, ...}. The rows are
    timed in `rounds` rounds, every row once per round in turn, so a burst of load elsewhere falls on all of them;
    a row's median_ms is the median of its rounds' medians, and its outputs (judged once) are its first round's."""
    judge = Judge(results, run_dir)
    artifact = results.artifact(pick)
    shapes = {t["name"]: t["shape"] for t in results.inputs.tensors}
    row = next(b for b in results.ok_bench() if b.artifact == pick)  # the pick was measured: it has a runtime
    settings = with_override(settings_data(results.config.get("bench") or {}, row.runtime, artifact.precision, shapes),
                             row.runtime, row.tuned.chosen if row.tuned else {})  # as measured, and as shipped
    request = {"inputs": str(run_dir / "inputs.npz"), "runs": runs, "warmup": min(10, max(2, runs // 5)),
               "settings": settings}
    candidates = [(f"convgraph's pick: {pick} ({artifact.precision})", "convgraph", artifact),
                  *peers(results, workdir)]
    answers: dict[str, list[dict]] = {}
    for round_ in range(rounds):
        for label, kind, made in candidates:
            tag = kind + (f"_{label.split('(')[1].split(')')[0]}" if kind == "ultralytics" else "")
            answers.setdefault(label, []).append(measure(kind, made, request, workdir, f"{tag}.r{round_}"))
    rows = []
    for label, kind, _ in candidates:
        first, timed = answers[label][0], [a for a in answers[label] if "infer_ms" in a]
        verdict = judge(label, first.pop("outputs")) if "outputs" in first else None
        for answer in answers[label][1:]:
            answer.pop("outputs", None)
        rows.append({"label": label, "kind": kind, **first, "metric": judge.metric,
                     "median_ms": median(a["infer_ms"]["median"] for a in timed) if timed else None,
                     "rounds": [a["infer_ms"]["median"] for a in timed],
                     "other_load_cores": mean(a.get("other_load_cores") or 0.0 for a in timed) if timed else 0.0,
                     "value": verdict.value if verdict else None, "drop": verdict.drop if verdict else None,
                     "error": first.get("error") or (verdict.error if verdict else "")})
    return rows


def ratio_line(rows: list[dict], max_drop: float, flags: str) -> str:
    pick, others = rows[0], rows[1:]
    within = [r for r in others if r["median_ms"] is not None and r["drop"] is not None and r["drop"] <= max_drop]
    if pick["median_ms"] is None:
        return f"ratio: n/a (convgraph's pick did not run: {pick['error']}); CPU flags: {flags}"
    if not within:
        return f"ratio: n/a (no peer within an accuracy drop of {max_drop:g}); CPU flags: {flags}"
    fastest = min(within, key=lambda r: r["median_ms"])
    pick_ok = pick["drop"] is not None and pick["drop"] <= max_drop
    return (f"ratio: convgraph's pick is {fastest['median_ms'] / pick['median_ms']:.2f}x the speed of the fastest peer "
            f"within an accuracy drop of {max_drop:g} ({fastest['label']}, {fastest['median_ms']:.2f} ms vs "
            f"{pick['median_ms']:.2f} ms); the pick's own drop {fmt(pick['drop'], '+.3f')}"
            f"{'' if pick_ok else ' is OVER the bound'}; CPU flags: {flags}")


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ppocr_det")
    parser.add_argument("--runs", type=int, default=50, help="timed inferences per row and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds: every row timed once per round, in turn")
    parser.add_argument("--max-drop", type=float, default=0.01, help="accuracy drop a peer may have to count")
    parser.add_argument("--precisions", help="the sweep's precisions (default: tools/low_precision.py's case)")
    parser.add_argument("--out", type=Path, help="keep the sweep, the peers' files and peers.json here")
    parser.add_argument("--sweep", type=Path, help="an existing +select sweep of the model to read, not run")
    parser.add_argument("overrides", nargs="*", help="more convert.py overrides for the sweep (after --)")
    args = parser.parse_args()
    known = available("model")
    if args.model not in known:
        parser.error(f"--model {args.model}: not a model config; allowed: {', '.join(known)}")
    if args.runs < 1:
        parser.error(f"--runs {args.runs}: give at least 1")
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: give at least 1")
    if args.max_drop < 0:
        parser.error(f"--max-drop {args.max_drop}: give 0 or more")
    if args.sweep and not (args.sweep / "selection.json").is_file():
        parser.error(f"--sweep {args.sweep}: no selection.json there; give a sweep run with +select")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = (args.out or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        results, pick, run_dir = the_pick(args.sweep or sweep(args.model, args.precisions, args.runs,
                                                              workdir / "sweep", args.overrides))
        if results.model != args.model:
            parser.error(f"--sweep {args.sweep} is a sweep of {results.model}, not of --model {args.model}")
        rows = measure_all(results, pick, run_dir, args.runs, workdir, args.rounds)
    cpu = results.environment.cpu if results.environment else None
    flags = " ".join(cpu.flags) if cpu and cpu.flags else "-"
    table = [[r["label"], r.get("runtime") or "-", r.get("executed") or "-", fmt(r["median_ms"], ".2f"),
              fmt(r["value"], ".3f"), fmt(r["drop"], "+.3f"),
              fmt(r["median_ms"] / rows[0]["median_ms"] if r["median_ms"] and rows[0]["median_ms"] else None,
                  ".2f") + ("x" if r["median_ms"] and rows[0]["median_ms"] else ""),
              (r["error"] or "")[:70]] for r in rows]
    print(f"\n== {results.model}, weights {results.weights or '?'}; accuracy: {rows[0]['metric']}; drop vs the "
          f"run's reference ({results.reference_name()}); {args.rounds} rounds of {args.runs} timed runs per "
          "row, the rows in turn; median of the rounds' medians")
    print(tabulate(table, headers=["peer", "runtime", "executes", "median ms", "accuracy", "drop", "ms / pick's",
                                   "note"], tablefmt="github", disable_numparse=True))
    print(ratio_line(rows, args.max_drop, flags))
    swept = next((b.infer_ms.median for b in results.ok_bench() if b.artifact == pick and b.infer_ms), None)
    print(f"the pick's median in the sweep itself: {fmt(swept, '.2f')} ms (re-timed above beside the peers)")
    load = [f"{r['label'].split(':')[0]} {r['other_load_cores']:.2f}" for r in rows
            if r.get("other_load_cores") is not None]
    print(f"machine: {cpu.model if cpu else '?'}, {cpu.cores if cpu else '?'} cores; cores other processes kept busy "
          f"while each row was timed: {', '.join(load) or '-'}")
    if args.out:
        (workdir / "peers.json").write_text(json.dumps({"model": results.model, "pick": pick, "flags": flags,
                                                        "rows": rows}, indent=2, default=str))


if __name__ == "__main__":
    main()
