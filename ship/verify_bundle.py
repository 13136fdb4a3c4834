"""Check a deploy bundle the way its receiver will use it:

    python -m ship.verify_bundle RUN_DIR/deploy [--images IMAGE...] [--venv DIR] [--keep]

1. the artifact still hashes as manifest.json says; the shipped modules are compared with the project's own
2. a fresh virtual environment (python -m venv) gets `pip install -r requirements.txt` and nothing else
3. predict.py runs there, on the images the run used and the rest of the folder they came from (and, for a
   model with other inputs, the bundle's samples.npz: the run's own samples)
4. its answers must equal what the project computes for that artifact here (the same adapter and the same
   pre/post-processing, in a child process: runtimes.infer) and, for the run's own samples, what the run
   recorded (parity/ARTIFACT.npz): same top-k classes with probabilities within 1e-4, the same boxes
   (one to one: same class, corners within 0.5 px, scores within 1e-3), the same pixels per class (within
   0.1% of the image), or raw outputs within 1e-4
5. prints the environment's installed size and its pip list; torch (or tensorflow, unless the pick is TF) or
   this toolkit installed there fails the check

Writes verification.json into the bundle. Exit code 0 = passed.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
PROB_TOL, SCORE_TOL, BOX_PX, RAW_ATOL = 1e-4, 1e-3, 0.5, 1e-4
MASK_SHARE = 1e-3  # segmentation: pixels per class may differ by this share of the image (a border pixel's tie)
NEVER = {"torch", "torchvision", "tensorflow", "ultralytics", "convgraph"}  # tensorflow: unless the pick is TF


# ---- comparing answers (pure) ----------------------------------------------------------------------------
def compare_answer(expected: dict, got: dict) -> str:
    """'' when predict.py's answer for one image equals the expected one (tolerances above), else why not."""
    if "top_k" in expected:
        want = {e["class"]: e["probability"] for e in expected["top_k"]}
        for rank, (e, g) in enumerate(zip(expected["top_k"], got.get("top_k", []), strict=False)):
            # a different class at a rank is accepted only where the expected probabilities tie
            if g["class"] != e["class"] and abs(want.get(g["class"], -1.0) - e["probability"]) > PROB_TOL:
                return f"top-{rank + 1} class {g['class']}, expected {e['class']}"
            if abs(g["probability"] - e["probability"]) > PROB_TOL:
                return f"top-{rank + 1} probability {g['probability']:.6f}, expected {e['probability']:.6f}"
        if len(got.get("top_k", [])) != len(expected["top_k"]):
            return f"{len(got.get('top_k', []))} classes, expected {len(expected['top_k'])}"
        return ""
    if "boxes" in expected:
        # One to one by class, corners and score (not IoU: a box clipped to the image edge can have zero area).
        free = list(expected["boxes"])
        have = got.get("boxes", [])
        if len(have) != len(free):
            return f"{len(have)} boxes, expected {len(free)}"
        for box in have:
            match = next((e for e in free if e["class"] == box["class"] and abs(e["score"] - box["score"]) <= SCORE_TOL
                          and max(abs(a - b) for a, b in zip(e["xyxy"], box["xyxy"], strict=True)) <= BOX_PX), None)
            if match is None:
                return (f"box {box} has no expected counterpart (same class, corners within {BOX_PX} px, "
                        f"score within {SCORE_TOL})")
            free.remove(match)
        return ""
    if "class_pixels" in expected:
        if got.get("shape") != expected["shape"]:
            return f"mask shape {got.get('shape')}, expected {expected['shape']}"
        classes = set(expected["class_pixels"]) | set(got.get("class_pixels", {}))
        moved = sum(abs(expected["class_pixels"].get(c, 0) - got.get("class_pixels", {}).get(c, 0)) for c in classes)
        total = expected["shape"][0] * expected["shape"][1]
        return "" if moved <= MASK_SHARE * total else f"{moved} of {total} pixels in other classes than expected"
    for name, values in expected.get("outputs", {}).items():
        if not np.allclose(np.asarray(got.get("outputs", {}).get(name)), np.asarray(values), atol=RAW_ATOL):
            return f"output {name} differs by more than {RAW_ATOL}"
    return ""


def compare_all(expected: dict[str, dict], answers: dict[str, dict]) -> list[str]:
    """Problems over the samples both know, each 'sample: why'."""
    problems = [f"{image}: no answer from predict.py" for image in expected if image not in answers]
    problems += [f"{image}: {why}" for image in expected if image in answers
                 for why in [compare_answer(expected[image], answers[image])] if why]
    return problems


# ---- what the project computes for the same artifact and samples -----------------------------------------
def expected_answers(bundle: Path, manifest: dict, files: list[str], work: Path) -> dict[str, dict]:
    """The project's adapter on the bundled artifact, in a child process (runtimes.infer, as parity runs it),
    then the project's postprocess: {item: answer as predict.py prints it}. A stateful model's calls run as one
    stream, in order, as predict.py runs them."""
    from core.artifact import Artifact
    from core.child_protocol import parse
    from core.feeds import feed_of
    from core.prepost import Processing
    from pipeline.child import run_child
    from runtimes.base import Settings
    from runtimes.infer_protocol import InferRequest
    from ship.predict import make_calls

    feeds, proc = [feed_of(t) for t in manifest["inputs"]], Processing.from_config(manifest["processing"])
    names, calls = make_calls(feeds, proc, files)
    np.savez(work / "inputs.npz", **{feed.name: np.stack([inputs[feed.name] for inputs, _ in calls])
                                      for feed in feeds})
    artifact = Artifact.from_dict({**manifest["artifact"], "path": str(bundle / manifest["artifact"]["path"])})
    settings = parse(Settings, manifest["runtime"]["settings"], "manifest.json runtime.settings")
    stateful = bool(settings.state)
    request = InferRequest(artifact=artifact, settings=settings,
                           inputs=str(work / "inputs.npz"), outputs=str(work / "outputs.npz"),
                           info=str(work / "info.json"), steps=len(calls) if stateful else 1)
    child = run_child(request, work / "request.json", work / "infer.log", 900)
    if child.failure:
        raise RuntimeError(f"the project's adapter failed on the bundled artifact: {child.last_line()}")
    with np.load(work / "outputs.npz") as data:
        outputs = [data[f"arr_{i}"] for i in range(len(data.files))]
    return _answers([o[0] for o in outputs] if stateful else outputs, names, calls, proc, manifest)


def recorded_answers(manifest: dict, files: list[str]) -> dict[str, dict] | None:
    """What the run itself measured for this artifact (its parity outputs on the run's samples, which the
    verification's files start with; a stateful model's first stream, which runs the run's samples in order),
    or None when the run directory is gone."""
    from core.feeds import call_batch, feed_of
    from core.prepost import Processing
    from ship.predict import make_calls

    run_dir = Path(manifest["source"].get("run_dir") or "")
    recorded = run_dir / "parity" / f"{manifest['artifact']['name']}.npz"
    record = manifest["source"].get("inputs") or {}
    if not recorded.is_file() or not record.get("samples"):
        return None
    feeds, proc = [feed_of(t) for t in manifest["inputs"]], Processing.from_config(manifest["processing"])
    names, calls = make_calls(feeds, proc, files)
    with np.load(recorded) as data:
        outputs = [data[f"arr_{i}"] for i in range(len(data.files))]
    if manifest["runtime"]["settings"].get("state"):
        outputs = [o[0] for o in outputs]  # the first stream: the run's samples from the first on
    count = min(record["samples"], len(outputs[0]), len(calls))
    per, run_images = call_batch(feeds), record.get("images") or []
    while run_images and count and names[: count * per] != run_images[: count * per]:
        count -= 1  # the run cycled its last call's images; the verification's files go on to other ones
    return _answers([o[:count] for o in outputs], names, calls[:count], proc, manifest)


def _answers(outputs: list[np.ndarray], names: list[str], calls: list, proc, manifest: dict) -> dict[str, dict]:
    """Outputs of the calls ([N, *output shape]) through the project's postprocess: {item: answer as predict.py
    prints it}."""
    from core.feeds import call_batch, feed_of
    from ship.predict import answers, item_axes

    per = call_batch([feed_of(t) for t in manifest["inputs"]])
    output_names = [o["name"] for o in manifest["artifact"]["outputs"]]
    found = {}
    for i, (_, meta) in enumerate(calls):
        for answer in answers([o[i] for o in outputs], meta, names[i * per : (i + 1) * per], proc,
                              item_axes(manifest), output_names):
            found[answer.pop("sample")] = answer
    return found


# ---- the fresh environment -------------------------------------------------------------------------------
def tree_bytes(root: Path) -> int:
    """Apparent size of the files under root (du -sb), symlinks not followed."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            total += os.lstat(os.path.join(folder, name)).st_size
    return total


def clean_env(venv: Path) -> dict:
    """The receiver's shell: the venv first on PATH, none of this project's paths."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
    env["VIRTUAL_ENV"] = str(venv)
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _run(cmd: list, env: dict, cwd: Path, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def verify(bundle: Path, images: list[str] | None = None, venv: Path | None = None, keep: bool = False) -> dict:
    bundle = bundle.resolve()
    manifest = json.loads((bundle / "manifest.json").read_text())
    from core.artifact import hash_path

    report: dict = {"bundle": str(bundle), "checks": {}, "passed": False}
    checks = report["checks"]
    sha = hash_path(bundle / manifest["artifact"]["path"])[0]
    checks["artifact_sha256"] = "ok" if sha == manifest["artifact"]["sha256"] else f"differs: {sha}"
    drift = [f for f, digest in manifest["files"].items() if f != "predict.py" and (REPO / f).is_file()
             and hashlib.sha256((REPO / f).read_bytes()).hexdigest() != digest]
    # Not a failure: the bundle carries its own copies; drift only says the project moved on since.
    report["project_files_changed_since"] = drift
    images = images or manifest["verify"]["images"]
    if not manifest["verify"].get("data"):  # with samples.npz, the images go with its samples one to one
        images = list(dict.fromkeys(images))
    files = images + ([str(bundle / manifest["verify"]["data"])] if manifest["verify"].get("data") else [])
    if venv is not None and venv.exists():  # never reuse (or wipe) a directory we did not create
        raise FileExistsError(f"--venv {venv} exists: give a new path")
    scratch = Path(tempfile.mkdtemp(prefix="convgraph-verify-"))
    venv = (venv or scratch / "env").resolve()
    try:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        empty = tree_bytes(venv)
        env = clean_env(venv)
        python = venv / "bin" / "python"
        pip = _run([python, "-m", "pip", "install", "--quiet", "-r", bundle / "requirements.txt"], env, scratch)
        report["seconds_install"] = round(time.perf_counter() - started, 1)
        if pip.returncode:
            checks["pip_install"] = f"failed: {_tail(pip.stderr or pip.stdout)}"
            return report
        checks["pip_install"] = "ok"
        listed = _run([python, "-m", "pip", "list", "--format=freeze"], env, scratch).stdout.split()
        report["pip_list"] = listed
        report["venv_bytes"], report["empty_venv_bytes"] = tree_bytes(venv), empty
        names = {line.split("==")[0].lower().replace("_", "-") for line in listed}
        never = NEVER - ({"tensorflow"} if manifest["runtime"]["name"] == "tensorflow" else set())
        checks["nothing_forbidden"] = "ok" if not names & never else f"installed: {sorted(names & never)}"
        started = time.perf_counter()
        ran = _run([python, "-s", bundle / "predict.py", *files], env, scratch)
        report["seconds_predict"] = round(time.perf_counter() - started, 2)
        if ran.returncode:
            checks["predict"] = f"exited {ran.returncode}: {_tail(ran.stderr)}"
            return report
        answers = {a["sample"]: a for a in map(json.loads, ran.stdout.splitlines())}
        checks["predict"] = f"ok ({len(answers)} samples)"
        expected = expected_answers(bundle, manifest, files, scratch)
        problems = compare_all(expected, answers)
        checks["equals_project_adapter"] = "ok" if not problems else "; ".join(problems[:5])
        recorded = recorded_answers(manifest, files)
        if recorded is None:
            checks["equals_run_record"] = "skipped (the run's parity outputs are not there any more)"
        else:
            problems = compare_all(recorded, answers)
            checks["equals_run_record"] = (f"ok ({len(recorded)} run sample(s))" if not problems
                                           else "; ".join(problems[:5]))
        report["samples"] = files
        report["task"] = manifest["processing"].get("task")
        report["passed"] = all(v.startswith(("ok", "skipped")) for v in checks.values())
        return report
    finally:
        report["venv"] = str(venv) if keep else None
        if not keep:
            shutil.rmtree(venv, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
        (bundle / "verification.json").write_text(json.dumps(report, indent=2))


def print_report(report: dict, manifest: dict) -> None:
    runtime = manifest["runtime"]
    print(f"bundle {report['bundle']}: {manifest['artifact']['name']} on {runtime['name']} {runtime['version']} "
          f"({manifest['artifact']['precision']})")
    for name, verdict in report["checks"].items():
        print(f"  {name:24s} {verdict}")
    if report["project_files_changed_since"]:
        print(f"  note: the project's {', '.join(report['project_files_changed_since'])} changed since bundling "
              "(the bundle keeps its own copies)")
    if "venv_bytes" in report:
        added = report["venv_bytes"] - report["empty_venv_bytes"]
        print(f"installed size: {report['venv_bytes'] / 2**20:.1f} MB in the environment "
              f"(requirements.txt adds {added / 2**20:.1f} MB to an empty venv of "
              f"{report['empty_venv_bytes'] / 2**20:.1f} MB); pip install took {report['seconds_install']} s")
        print("pip list:", " ".join(report["pip_list"]))
    print("PASSED" if report["passed"] else "FAILED")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m ship.verify_bundle", description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path, help="a deploy/ directory (manifest.json inside)")
    parser.add_argument("--images", nargs="+", help="images to check on (default: the run's, see manifest.json)")
    parser.add_argument("--venv", type=Path, help="create the environment here (default: a temporary dir)")
    parser.add_argument("--keep", action="store_true", help="keep the environment afterwards")
    args = parser.parse_args(argv)
    if not (args.bundle / "manifest.json").is_file():
        print(f"error: {args.bundle} has no manifest.json: give the deploy/ directory of a run", file=sys.stderr)
        return 2
    report = verify(args.bundle, args.images, args.venv, args.keep)
    print_report(report, json.loads((args.bundle / "manifest.json").read_text()))
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
