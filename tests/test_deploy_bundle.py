"""The deploy bundle: the shipped modules need nothing beyond numpy and Pillow at import time; answers are
compared with tolerances; the ALL run's pick (fp32 ONNX Runtime) is bundled with only what it needs and
(slow) verified end to end in a fresh virtual environment; a constraint nobody meets fails the run with
results.json and every artifact intact."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from convert import finish_run
from pipeline.results import load_results
from ship.deploy import PREDICT, SHIPPED, module_level_imports, shippable_imports
from ship.verify_bundle import compare_answer
from tests.conftest import REPO

HEAVY = ("torch", "torchvision", "tensorflow", "openvino", "onnxruntime", "ai_edge_litert", "ultralytics", "onnx",
         "hydra", "omegaconf", "pydantic", "tabulate", "matplotlib", "bench", "pipeline", "converters", "models",
         "validators", "ship", "report", "tools")


def test_shipped_modules_import_only_numpy_pillow_and_each_other():
    assert shippable_imports() == []
    # and for real: with every runtime, framework and the rest of this project made unimportable
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in HEAVY)
    modules = [f.removesuffix(".py").replace("/", ".").removesuffix(".__init__") for f in SHIPPED]
    # predict.py is imported as the bundle holds it: a top-level module next to core/ and runtimes/
    code = (f"import sys; sys.path.insert(0, 'ship'); {blocked}; " + "; ".join(f"import {m}" for m in modules)
            + "; import predict")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_the_import_check_sees_module_level_imports_only(tmp_path):
    module = tmp_path / "mod.py"
    module.write_text("import os\nimport torch\nfrom core.errors import UserError\n"
                      "def lazy():\n    import openvino\n"
                      "class Runner:\n    import tensorflow\n")
    assert module_level_imports(module) == {"os", "torch", "core.errors", "tensorflow"}
    problems = shippable_imports([str(module)])
    assert any("'torch'" in p for p in problems) and any("'tensorflow'" in p for p in problems)
    assert not any("openvino" in p or "core.errors" in p for p in problems)


def test_answers_compare_within_tolerance():
    top = {"top_k": [{"class": 3, "probability": 0.5}, {"class": 7, "probability": 0.2},
                     {"class": 1, "probability": 0.2000001}]}
    assert compare_answer(top, top) == ""
    swapped_tie = {"top_k": [top["top_k"][0], top["top_k"][2], top["top_k"][1]]}
    assert compare_answer(top, swapped_tie) == ""  # equal probabilities may come in either order
    wrong = {"top_k": [{"class": 7, "probability": 0.5}, *top["top_k"][1:]]}
    assert compare_answer(top, wrong) == "top-1 class 7, expected 3"
    boxes = {"boxes": [{"xyxy": [0, 0, 10, 10], "score": 0.9, "class": 1},
                       {"xyxy": [20, 20, 40, 40], "score": 0.8, "class": 2}]}
    shuffled = {"boxes": [{"xyxy": [20, 20, 40.01, 40], "score": 0.8, "class": 2}, boxes["boxes"][0]]}
    assert compare_answer(boxes, shuffled) == ""
    moved = {"boxes": [boxes["boxes"][0], {"xyxy": [25, 20, 45, 40], "score": 0.8, "class": 2}]}
    assert compare_answer(boxes, moved).startswith("box {'xyxy': [25, 20, 45, 40], 'score': 0.8, 'class': 2} has no")
    assert compare_answer(boxes, {"boxes": boxes["boxes"][:1]}) == "1 boxes, expected 2"
    flat = {"boxes": [{"xyxy": [165.4, 400.0, 525.2, 400.0], "score": 0.99, "class": 75}]}  # clipped: zero area
    assert compare_answer(flat, flat) == ""


# ---- the ALL run's selection and bundle ---------------------------------------------------------------------------
@pytest.mark.xdist_group("all_run")
def test_the_pick_and_its_reason_are_recorded_and_printed(all_run):
    selection = all_run.results.selection
    assert selection.status == "picked" and selection.pick == "simplify"  # the one fp32 ONNX Runtime row
    failed = {c.id: c.failed for c in selection.candidates}
    assert failed["simplify"] == [] and set(failed) == {b.artifact for b in all_run.results.bench}
    assert failed["onnx_lowp"] == ["precisions=['fp32'] (made at int8)"]
    assert "runtimes=['onnxruntime'] (runtime openvino)" in failed["openvino"]
    assert "without_source (needs the model's Python source)" in failed["model"]
    reason = selection.reason
    assert reason.startswith("pick: simplify (ONNX Runtime fp32): fastest that meets every constraint")
    assert f"best rejected: {selection.best_rejected} (" in reason and reason in all_run.stdout
    assert (all_run.dir / "selection.png").stat().st_size > 0 and (all_run.dir / "selection.md").is_file()
    assert selection.bundle == str(all_run.dir / "deploy")


@pytest.mark.xdist_group("all_run")
def test_the_bundle_holds_the_pick_and_only_what_it_needs(all_run):
    deploy = all_run.dir / "deploy"
    assert sorted(p.name for p in deploy.iterdir()) == ["README.md", "core", "manifest.json", "model.onnx",
                                                       "predict.py", "requirements.txt", "runtimes"]
    requirements = (deploy / "requirements.txt").read_text()
    assert "onnxruntime==" in requirements and "numpy==" in requirements and "pillow==" in requirements
    assert "torch" not in requirements and "openvino" not in requirements and "tensorflow" not in requirements
    for file in SHIPPED:  # verbatim copies: one source of truth
        assert (deploy / file).read_bytes() == (REPO / file).read_bytes(), file
    assert (deploy / "predict.py").read_bytes() == (REPO / PREDICT).read_bytes()
    manifest = json.loads((deploy / "manifest.json").read_text())
    simplify = all_run.artifact("simplify")
    assert manifest["artifact"]["sha256"] == simplify.sha256 and manifest["artifact"]["path"] == "model.onnx"
    assert (deploy / "model.onnx").read_bytes() == open(simplify.path, "rb").read()
    assert manifest["runtime"]["name"] == "onnxruntime" and manifest["selection"]["objective"] == "latency"
    assert manifest["runtime"]["settings"]["options"] == {"onnxruntime": all_run.data["config"]["bench"]["runtime"]
                                                          ["onnxruntime"]}


@pytest.mark.slow
@pytest.mark.xdist_group("all_run")
def test_the_bundle_runs_in_a_fresh_venv_without_torch(all_run, tmp_path):
    """ONNX Runtime: a small closure that runs the tiny model."""
    deploy = tmp_path / "deploy"
    shutil.copytree(all_run.dir / "deploy", deploy)  # verification.json goes into the bundle: a copy of ours
    check = subprocess.run([sys.executable, "-m", "ship.verify_bundle", str(deploy)], cwd=REPO,
                           capture_output=True, text=True, timeout=900)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert "PASSED" in check.stdout and "installed size:" in check.stdout
    report = json.loads((deploy / "verification.json").read_text())
    names = {line.split("==")[0].lower() for line in report["pip_list"]}
    assert "onnxruntime" in names and not names & {"torch", "openvino", "tensorflow", "convgraph"}
    assert report["checks"]["equals_project_adapter"] == "ok"
    assert report["checks"]["equals_run_record"].startswith("ok")
    assert report["checks"]["artifact_sha256"] == "ok" and report["passed"] is True


@pytest.mark.xdist_group("all_run")
def test_a_constraint_nobody_meets_fails_the_run_and_keeps_everything(all_run, tmp_path, capsys):
    """What convert.py does after the pipeline (finish_run: its return value is the exit code),
    on the ALL run's results with a limit no candidate meets."""
    results = load_results(all_run.dir)
    spec = {**all_run.data["config"]["select"], "runtimes": None, "precisions": None, "max_latency_ms": 0.0001}
    code = finish_run(results, tmp_path, spec)
    assert code == 1
    out = capsys.readouterr().out
    candidates = len(results.bench)
    assert f"no pick: none of the {candidates} candidates meets the constraints" in out
    saved = load_results(tmp_path)  # results.json, written again with the decision
    assert saved.status == "ok" and len(saved.bench) == candidates == 8  # conversions and benchmarks kept
    selection = saved.selection
    assert selection.status == "none" and selection.pick is None
    failed = {c.id: c.failed for c in selection.candidates}
    assert all(any(f.startswith("max_latency_ms=0.0001 (") for f in why) for why in failed.values())
    assert "without_source (needs the model's Python source)" in failed["model"]
    assert (tmp_path / "selection.png").is_file() and (tmp_path / "report.md").is_file()
    assert not (tmp_path / "deploy").exists()
