"""Does our timing module measure what the runtimes' own tools measure? Ratio of medians, same artifact and input.

    python tools/fidelity.py [RUN_DIR] [--model resnet18] [--rounds 12] [--runs 20] [--threads N]

For ONNX Runtime, OpenVINO, TFLite and PyTorch, in one run: our path (runtimes.load with the
pipeline's settings, timed by bench.timing.timed_loop) against a bare loop over the runtime's own API
(session.run / infer_request.infer / set_tensor + invoke + get_tensor / model(x), its own session with the
same thread count, everything else at the runtime's defaults); for OpenVINO also against
`benchmark_app -hint latency -nthreads N`. Each runtime runs in its own process, where the variants alternate
round by round (the order flips every round), so a burst of load from elsewhere hits all of them.
Ratio = median over rounds of (ours / theirs), each side a median of `runs` inferences. Goal: 1.00 +/- 0.05.

Without RUN_DIR the pipeline makes the artifacts first (`convert.py +graph=all`, benchmarks off; cached).
Each runtime's detail line gives the cores other processes kept busy per round: with all cores in use and a
neighbour on one of them, multi-threaded runtimes swing by 2-10x between rounds and no ratio means much;
`--threads 1` then still compares like with like.
"""
from __future__ import annotations

import argparse
import json
import re
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

import runtimes  # noqa: E402 - after the path set-up above
from core.feeds import TENSOR_KEYS  # noqa: E402
from pipeline.results import load_results  # noqa: E402

# the runtimes with a bare loop of their own API (runtimes registry), measured on their fp32 artifact
RUNTIMES = [name for name, runtime in runtimes.REGISTRY.items() if runtime.bare_loop is not None]
GOAL = 0.05


def make_run(model: str, workdir: Path) -> Path:
    run_dir = workdir / "run"
    from pipeline.child import child_env

    env = child_env()  # onnx2tf finds the interpreter's onnxsim
    command = [sys.executable, "convert.py", "+graph=all", f"model={model}", "bench.enabled=false",
               f"hydra.run.dir={run_dir}"]
    print("$ " + " ".join(command[1:]), flush=True)
    proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if not (run_dir / "results.json").exists():
        sys.exit(f"the pipeline wrote no results.json (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return run_dir


def pick_artifacts(results) -> dict[str, dict]:
    """The fp32 artifact each runtime runs in the table (the simplified ONNX: the last fp32 ONNX)."""
    chosen = {}
    for artifact in results.artifacts:
        runtime = runtimes.for_format(artifact.format).name
        if runtime in RUNTIMES and artifact.precision == "fp32":
            if runtime != "tflite" or runtime not in chosen:  # tflite: the fp32 file, not a later one
                chosen[runtime] = artifact.to_dict()
    return chosen


# ---- child: one runtime, our path vs its bare loop (and benchmark_app) ------------------------------------

def benchmark_app(artifact, threads: int, runs: int, batch_shape: list[int], config: Path) -> float:
    """OpenVINO's own tool, latency hint: its reported median latency in ms.

    Its UI refuses `-nthreads` next to `-hint latency` ("fine tune options ... set -hint none"), so the thread
    count goes in through -load_config ({"CPU": {"INFERENCE_NUM_THREADS": N}}), which keeps the hint."""
    config.write_text(json.dumps({"CPU": {"INFERENCE_NUM_THREADS": str(threads)}}))
    tool = Path(sys.executable).parent / "benchmark_app"
    command = [str(tool), "-m", f"{artifact.path}/model.xml", "-d", "CPU", "-hint", "latency",
               "-load_config", str(config), "-infer_precision", "f32", "-niter", str(runs),
               "-shape", "[" + ",".join(str(d) for d in batch_shape) + "]"]
    out = subprocess.run(command, capture_output=True, text=True).stdout
    if f"INFERENCE_NUM_THREADS: {threads}" not in out:
        raise RuntimeError(f"benchmark_app did not run with {threads} threads: {out[-1500:]}")
    found = re.search(r"Median:\s+([0-9.]+)\s*ms", out)
    if not found:
        raise RuntimeError(f"benchmark_app printed no median latency: {out[-1500:]}")
    return float(found.group(1))


def child(request_path: str) -> None:
    import numpy as np

    from bench.timing import OtherLoad, summarize, timed_loop
    from core.artifact import Artifact
    from core.feeds import Feed, make_inputs
    from core.images import load_rgb
    from core.prepost import Processing, postprocess
    from runtimes.base import Settings

    request = json.loads(Path(request_path).read_text())
    runtime, rounds, runs, warmup = request["runtime"], request["rounds"], request["runs"], request["warmup"]
    artifact = Artifact.from_dict(request["artifact"])
    proc = Processing.from_config(request["processing"])
    images = [load_rgb(Path(p)) for p in request["images"]]
    settings = Settings(**request["settings"])
    runner = runtimes.load(artifact, settings)
    feeds = [Feed(**f) for f in request["feeds"]]

    def prepare():
        return make_inputs(feeds, proc, images, None, runner.layouts)

    x, _ = prepare()
    bare = runtimes.get(runtime).bare_loop(artifact, x, settings.n_threads)

    def bare_samples(count: int) -> list[float]:
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            bare()
            samples.append((time.perf_counter() - start) * 1e3)
        return samples

    def ours() -> list[float]:
        return timed_loop(runner, prepare, lambda out, meta: postprocess(out, proc, meta), warmup, runs).infer_ms

    def theirs() -> list[float]:
        bare_samples(warmup)
        return bare_samples(runs)

    variants = {"ours": ours, "bare": theirs}
    if runtime == "openvino":
        config = Path(request_path).with_suffix(".benchmark_app.json")
        shape = list(next(iter(x.values())).shape)
        variants["benchmark_app"] = lambda: [benchmark_app(artifact, settings.n_threads, runs, shape, config)]
    medians: dict[str, list[float]] = {k: [] for k in variants}
    spread: dict[str, list[float]] = {k: [] for k in variants}
    elsewhere: list[float] = []
    order = list(variants)
    for round_index in range(rounds):
        with OtherLoad() as load:
            for name in order if round_index % 2 == 0 else order[::-1]:
                samples = variants[name]()
                stats = summarize(samples)
                medians[name].append(stats["median"])
                spread[name].append(stats["cv"])
        elsewhere.append(load.cores if load.cores is not None else float("nan"))
    print(json.dumps({"runtime": runtime, "artifact": artifact.name, "threads": settings.n_threads,
                      "settings": runner.info().get("settings"), "medians": medians, "cv": spread,
                      "other_load_cores": elsewhere, "input": {n: list(np.shape(v)) for n, v in x.items()}}),
          flush=True)


# ---- parent ---------------------------------------------------------------------------------------------

def measure(runtime: str, artifact: dict, results, args) -> dict:
    from pipeline.child import child_env
    from runtimes.base import settings_data

    feeds = [{k: t[k] for k in TENSOR_KEYS if k in t} | {"layout": t.get("layout", "")}
             for t in results.inputs.tensors]
    if any(f["kind"] != "image" for f in feeds):
        return {"runtime": runtime, "error": "fidelity measures models whose inputs are all images"}
    settings = settings_data(results.config.get("bench") or {}, runtime, "fp32",
                             {f["name"]: f["shape"] for f in feeds})
    settings["threads"] = args.threads or settings["threads"]
    request = {"runtime": runtime, "artifact": artifact, "rounds": args.rounds, "runs": args.runs,
               "warmup": args.warmup, "images": results.inputs.bench_images, "processing": results.processing,
               "settings": settings, "feeds": feeds}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(request, handle)
    try:
        proc = subprocess.run([sys.executable, "-m", "tools.fidelity", "--child", handle.name], cwd=REPO,
                              env=child_env(), capture_output=True, text=True)
    finally:
        for leftover in (Path(handle.name), Path(handle.name).with_suffix(".benchmark_app.json")):
            leftover.unlink(missing_ok=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"runtime": runtime, "error": (proc.stderr.strip().splitlines() or ["no output"])[-1]}
    return json.loads(lines[-1])


def ratio(ours: list[float], theirs: list[float]) -> float:
    return statistics.median(o / t for o, t in zip(ours, theirs, strict=True))


def report(measured: list[dict]) -> str:
    lines = []
    for m in measured:
        if "error" in m:
            lines.append([m["runtime"], "failed", "", "", "", "", "", m["error"]])
            continue
        ours = m["medians"]["ours"]
        for other in ("bare", "benchmark_app"):
            if other not in m["medians"]:
                continue
            theirs = m["medians"][other]
            value = ratio(ours, theirs)
            per_round = [o / t for o, t in zip(ours, theirs, strict=True)]
            inside = sum(abs(r - 1) <= GOAL for r in per_round)
            verdict = "ok" if abs(value - 1) <= GOAL else "OUT OF RANGE"
            label = "bare loop" if other == "bare" else "benchmark_app"
            lines.append([m["runtime"], m["artifact"], f"{statistics.median(ours):.2f}", label,
                          f"{statistics.median(theirs):.2f}", f"{value:.3f}", f"{inside}/{len(per_round)}", verdict])
    return tabulate(lines, headers=["runtime", "artifact", "ours ms", "vs", "theirs ms", "ratio", "rounds in goal",
                                    "verdict"], tablefmt="simple", disable_numparse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="a run whose artifacts to measure (default: make one)")
    parser.add_argument("--model", default="resnet18", help="model to convert when no RUN_DIR is given")
    # 12: this host has slow phases of seconds (the same ORT session at 21 then 40 ms, no other process busy)
    # that 6 rounds could not outvote; with 12 the median over rounds lands outside them
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--runs", type=int, default=20, help="timed inferences per variant and round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="default: the run's bench.threads (all cores)")
    parser.add_argument("--runtimes", default=",".join(RUNTIMES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    unknown = [r for r in args.runtimes.split(",") if r not in RUNTIMES]
    if unknown:  # before any conversion runs
        parser.error(f"--runtimes {','.join(unknown)} is not known; allowed: {', '.join(RUNTIMES)}")
    if args.run_dir and not (args.run_dir / "results.json").is_file():
        parser.error(f"{args.run_dir} has no results.json: give a convgraph run directory (or none to make one)")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or make_run(args.model, Path(tmp))
        results = load_results(run_dir)
        artifacts = pick_artifacts(results)
        measured = []
        for runtime in args.runtimes.split(","):
            if runtime not in artifacts:
                measured.append({"runtime": runtime, "error": "no fp32 artifact for it in this run"})
                continue
            print(f"measuring {runtime} ({artifacts[runtime]['name']}) ...", flush=True)
            measured.append(measure(runtime, artifacts[runtime], results, args))
    cpu = results.environment.cpu
    print(f"\nmodel {results.model}, batch {results.inputs.batch}, {cpu.model} "
          f"({cpu.cores_available or cpu.cores} cores), {args.rounds} rounds x {args.runs} runs per variant, "
          f"alternating; ratio = median over rounds of ours / theirs")
    print(report(measured))
    for m in measured:
        if "medians" in m:
            cvs = {k: f"{statistics.median(v):.1%}" for k, v in m["cv"].items() if k != "benchmark_app"}
            rounds = {k: [round(x, 2) for x in v] for k, v in m["medians"].items()}
            print(f"  {m['runtime']}: per-round medians {rounds}; median cv within a round {cvs}; "
                  f"cores busy with other processes per round {[round(c, 2) for c in m['other_load_cores']]}; "
                  f"our settings {m['settings']}")


if __name__ == "__main__":
    main()
