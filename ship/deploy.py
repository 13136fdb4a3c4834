"""The deploy bundle: what another machine needs to run the picked artifact, and nothing else.

    deploy/
      <artifact>          the pick itself (file or directory), byte-identical: its sha256 is in manifest.json
      predict.py          python predict.py IMAGE... -> one JSON object per image (ship/predict.py)
      core/, runtimes/    the project's own image reader, pre/post-processing and runtime adapters, copied
                          verbatim (one source of truth; each file's sha256 is in manifest.json)
      requirements.txt    the runtime's package closure + numpy + Pillow, pinned to the versions measured
      manifest.json       tensors, runtime settings, preprocessing, the config, the measured figures, the reason
      README.md           for the person who receives it
"""
from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

import runtimes
from bench.footprint import requirement_closure
from core.artifact import hash_path
from pipeline.decision import Decision, Ranked
from pipeline.results import BenchRow, RunResults
from runtimes.base import settings_data, with_override

REPO = Path(__file__).resolve().parent.parent
# What predict.py imports, and what those import (checked by shippable_imports before every bundle).
SHIPPED = ("core/__init__.py", "core/errors.py", "core/artifact.py", "core/images.py", "core/prepost.py",
           "core/boxes.py", "core/masks.py", "core/feeds.py", "core/samples.py", "core/sequences.py",
           "runtimes/__init__.py", "runtimes/base.py", "runtimes/matching.py", "runtimes/profiling.py",
           "runtimes/state.py",
           "runtimes/torch.py", "runtimes/onnxruntime.py", "runtimes/openvino.py", "runtimes/tensorflow.py",
           "runtimes/tflite.py")
PREDICT = "ship/predict.py"
BASE_PACKAGES = ("numpy", "pillow")  # arrays and image reading, whatever the runtime
THIRD_PARTY_OK = {"numpy", "PIL"}


class BundleError(Exception):
    """The pick cannot be bundled (e.g. PyTorch eager needs the model's source); the message says why."""


def module_level_imports(path: Path) -> set[str]:
    """Modules a file imports when it is imported (dotted names). Function bodies (lazy imports, e.g. a runtime
    loaded only by its own adapter) do not run at import time and are left out."""
    found: set[str] = set()

    def visit(node):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return found


def shippable_imports(files=(*SHIPPED, PREDICT)) -> list[str]:
    """Problems: module-level imports of the shipped files that are neither the standard library, numpy, Pillow
    nor a shipped module. [] = the bundle runs with requirements.txt alone."""
    shipped = {f.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for f in SHIPPED}
    packages = {f.split("/")[0] for f in SHIPPED}
    problems = []
    for file in files:
        for name in sorted(module_level_imports(REPO / file)):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top in THIRD_PARTY_OK or top == "__future__":
                continue
            if top not in packages or name not in shipped:
                problems.append(f"{file} imports {name!r} at module level, which the bundle does not ship")
    return problems


def requirements(runtime: str, measured_version: str | None) -> dict[str, str]:
    """{distribution: version}: the runtime's installed requirement closure plus numpy and Pillow, pinned to
    the versions installed where it was measured (and refused if the runtime changed since)."""
    roots = (*runtimes.get(runtime).packages, *BASE_PACKAGES)
    closure = requirement_closure(roots)
    missing = [r for r in roots if r not in closure]
    if missing:
        raise BundleError(f"{', '.join(missing)} not installed here: cannot pin what the bundle needs")
    version = closure[runtimes.get(runtime).packages[0]]
    if measured_version and not str(measured_version).startswith(version):
        raise BundleError(f"{runtime} {version} is installed now but {measured_version} was measured: rerun the "
                          "benchmark before bundling")
    return closure


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def runtime_settings(config: dict, runtime: str, artifact, results: RunResults, tuned: dict | None = None) -> dict:
    """runtimes.base.Settings (as data) for predict.py: the latency row's (threads, the precision asked, this
    runtime's bench.runtime block with what bench.tune chose for it, the inputs' shapes as one call takes them:
    predict.py feeds such calls, and the state a stateful model carries from call to call)."""
    shapes = {t["name"]: t["shape"] for t in results.inputs.tensors}
    state = (config.get("model") or {}).get("state")
    settings = settings_data(config.get("bench") or {}, runtime, artifact.precision, shapes, state=state)
    return with_override(settings, runtime, tuned or {})


def verify_images(config: dict, used: list[str]) -> list[str]:
    """The images verify_bundle runs on: those the run used, then the rest of the folder it drew them from."""
    from core.images import image_paths

    pool = [str(p) for p in image_paths((config.get("input") or {}).get("images"))]
    return list(dict.fromkeys([*used, *pool]))


def write_bundle(out: Path, pick: Ranked, results: RunResults, decision: Decision) -> Path:
    """Write `out` (replacing a previous bundle there) for the picked candidate row of `results`."""
    if pick.format == "torch":
        raise BundleError("a PyTorch eager artifact needs the model's Python source and torch: nothing to ship "
                          "without them (select.without_source=true rules it out)")
    problems = shippable_imports()
    if problems:
        raise BundleError("the shipped modules would need more than the runtime: " + "; ".join(problems))
    artifact = results.artifact(pick.artifact)
    bench = next(b for b in results.ok_bench() if b.artifact == pick.artifact)
    pins = requirements(pick.runtime, bench.version)
    # Built aside and moved into place whole: a failure half-way never leaves a bundle that looks complete.
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        _fill(partial, pick, artifact, bench, pins, results, decision)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    os.replace(partial, out)
    return out


def _fill(partial: Path, pick: Ranked, artifact, bench: BenchRow, pins: dict, results: RunResults,
          decision: Decision) -> None:
    source = Path(artifact.path)
    target = partial / source.name
    (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    if hash_path(target)[0] != artifact.sha256:
        raise BundleError(f"{source} no longer hashes as measured (sha256 {artifact.sha256[:12]}...)")
    modules = {}
    for file in SHIPPED:
        (partial / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / file, partial / file)
        modules[file] = _sha(partial / file)
    shutil.copy2(REPO / PREDICT, partial / "predict.py")
    modules["predict.py"] = _sha(partial / "predict.py")
    config = results.config
    record = {k: v for k, v in asdict(artifact).items() if k != "path"}
    environment = results.environment.model_dump() if results.environment else {}
    manifest = {
        "bundle_format": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": results.model, "graph": results.graph, "weights": results.weights,
        "artifact": {**record, "path": target.name},
        "runtime": {"name": pick.runtime, "version": bench.version, "layout": bench.layout,
                    "executed_precision": bench.executed_precision,
                    "settings": runtime_settings(config, pick.runtime, artifact, results,
                                                 bench.tuned.chosen if bench.tuned else None)},
        "inputs": results.inputs.tensors,
        "processing": results.processing,
        "requirements": pins,
        "files": modules,
        "selection": {"objective": decision.objective, "reason": decision.reason, "front": decision.front,
                      "tied_with": decision.tied_with, "best_rejected": decision.best_rejected,
                      "constraints": decision.constraints, "measured": _measured(pick)},
        "source": {"run_dir": results.run_dir, "job": pick.job, "inputs": results.inputs.model_dump(),
                   "environment": {k: environment.get(k) for k in ("cpu", "python", "host")}},
        "verify": _samples(partial, results),
        "config": config,
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
    (partial / "requirements.txt").write_text(requirements_text(pick, pins))
    (partial / "README.md").write_text(readme(manifest))


MEASURED = ("median_ms", "p90_ms", "throughput_ips", "agreement", "parity_error", "artifact_mb", "installed_mb",
            "footprint_mb", "cold_start_s", "peak_rss_mb", "executed_precision", "batch", "on_front", "rank")


def _measured(pick: Ranked) -> dict:
    return {k: getattr(pick, k) for k in MEASURED}


def _samples(partial: Path, results: RunResults) -> dict:
    """What verify_bundle runs predict.py on: for a model with non-image inputs the run's own samples, written
    beside predict.py as samples.npz (also an example for the receiver), with the run's images if it has any;
    for an image model the run's images and the rest of their folder."""
    data = [t["name"] for t in results.inputs.tensors if t.get("kind") == "data"]
    if not data:
        return {"images": verify_images(results.config, results.inputs.images)}
    with np.load(Path(results.run_dir) / "inputs.npz") as arrays:
        np.savez(partial / "samples.npz", **{name: arrays[name] for name in data})
    return {"images": results.inputs.images, "data": "samples.npz"}


def requirements_text(pick: Ranked, pins: dict[str, str]) -> str:
    roots = [*runtimes.get(pick.runtime).packages, *BASE_PACKAGES]
    lines = [f"# {pick.runtime} and what the bundled code reads images and arrays with, pinned to the versions",
             "# installed where the artifact was measured; below them, their own dependencies as installed there.",
             *[f"{name}=={pins[name]}" for name in roots], "", "# dependencies of the above",
             *[f"{name}=={version}" for name, version in sorted(pins.items()) if name not in roots]]
    return "\n".join(lines) + "\n"


def readme(manifest: dict) -> str:
    artifact, runtime, m = manifest["artifact"], manifest["runtime"], manifest["selection"]["measured"]
    task = manifest["processing"].get("task")
    prints = {"classification": "`{\"sample\": ..., \"top_k\": [{\"class\": 281, \"probability\": 0.41}, ...]}`",
              "detection": "`{\"sample\": ..., \"boxes\": [{\"xyxy\": [x1, y1, x2, y2], \"score\": 0.87, "
                           "\"class\": 0}, ...]}` (boxes in the original image's pixels)",
              "segmentation": "`{\"sample\": ..., \"shape\": [height, width], \"class_pixels\": {\"0\": 81234, ...}}` "
                              "(at the original image's size)"}.get(
        task, "`{\"sample\": ..., \"outputs\": {name: values}}`")
    data = manifest["verify"].get("data")
    images = any(t.get("kind") == "image" for t in manifest["inputs"])
    stateful = bool(runtime["settings"].get("state"))
    if data:
        run = "python predict.py samples.npz " + ("photo.jpg [...]   # each sample's images" if images else "[...]")
    else:
        run = "python predict.py photo.jpg [more.jpg ...]"
    cpu = (manifest["source"]["environment"].get("cpu") or {}).get("model", "?")

    def fig(key, fmt):
        return "-" if m.get(key) is None else format(m[key], fmt)

    return "\n".join([
        f"# {manifest['model']} on {runtime['name']} {runtime['version']} ({artifact['precision']})", "",
        "A deploy bundle written by convgraph. Nothing here needs PyTorch, the model's source code or convgraph.",
        "", f"Why this one: {manifest['selection']['reason']}", "",
        "## Install and run", "",
        "    python3.11 -m venv .venv && . .venv/bin/activate", "    pip install -r requirements.txt",
        f"    {run}", "",
        f"Each sample gives one line of JSON: {prints}.", "",
        *(["`samples.npz` holds the run's samples (one array per input, [N, *the shape of one call]: one call per "
           "sample): an example of what predict.py takes.", ""] if data else []),
        *([f"The model is stateful: each call's {', '.join(runtime['settings']['state'])} is fed back as "
           f"{', '.join(runtime['settings']['state'].values())} on the next call, in the order the samples are "
           "given (the first sample's own values start the stream).", ""] if stateful else []),
        "## What is here", "",
        f"- `{artifact['path']}`: the model ({artifact['format']}, {artifact['bytes'] / 2**20:.2f} MB, "
        f"sha256 `{artifact['sha256'][:16]}...`)",
        "- inputs " + ", ".join(f"`{t['name']}` {t['dtype']} {t['shape']}" + (f" (values {t['range']})" if
                                                                             t.get("range") else "")
                                for t in manifest["inputs"])
        + f" (the runtime takes images {runtime.get('layout') or 'NCHW'}); outputs "
        + ", ".join(f"`{o['name']}` {o['shape']}" for o in artifact["outputs"]),
        f"- preprocessing ({task}): `{json.dumps(manifest['processing'])}`",
        "- `predict.py`, `core/`, `runtimes/`: the same image reading, pre/post-processing and runtime "
        "adapters the benchmark measured, copied verbatim (sha256 of each in manifest.json)",
        "- `requirements.txt`: the runtime, numpy and Pillow (and their dependencies) at the measured versions",
        "- `manifest.json`: all of the above, the constraints, the config and the measured figures", "",
        f"## Measured where it was picked ({cpu}, batch {m.get('batch')})", "",
        "| median ms | p90 ms | img/s | agreement | artifact MB | runtime installed MB | cold start s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
        f"| {fig('median_ms', '.2f')} | {fig('p90_ms', '.2f')} | {fig('throughput_ips', '.1f')} | "
        f"{fig('agreement', '.3f')} | {fig('artifact_mb', '.2f')} | {fig('installed_mb', '.0f')} | "
        f"{fig('cold_start_s', '.2f')} | {fig('peak_rss_mb', '.0f')} |", "",
        f"Executes in {runtime.get('executed_precision')} (what the runtime reported); threads: "
        f"{runtime['settings']['threads'] or 'all cores'}.", "",
    ])
