"""The deploy bundle: the shipped modules need nothing beyond numpy and Pillow at import time; answers are
compared with tolerances; a constraint nobody meets fails the run with results.json intact; and (slow) the tiny
model's bundle verified end to end in a fresh virtual environment."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from bench.deploy import SHIPPED, module_level_imports, shippable_imports
from bench.verify_bundle import compare_answer
from tests.conftest import FAST, REPO

HEAVY = ("torch", "torchvision", "tensorflow", "openvino", "onnxruntime", "ai_edge_litert", "ultralytics", "onnx",
         "hydra", "omegaconf", "bench", "pipeline", "converters")


def test_shipped_modules_import_only_numpy_pillow_and_each_other():
    assert shippable_imports() == []
    # and for real: with every runtime, framework and the rest of this project made unimportable
    blocked = "; ".join(f"sys.modules[{name!r}] = None" for name in HEAVY)
    modules = [f.removesuffix(".py").replace("/", ".").removesuffix(".__init__") for f in SHIPPED]
    code = f"import sys; {blocked}; " + "; ".join(f"import {m}" for m in modules)
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


def test_a_constraint_nobody_meets_fails_the_run_and_keeps_everything(convert, tmp_path):
    proc, results = convert("+graph=openvino", *FAST, "+select=latency", "select.max_latency_ms=0.0001")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "no pick: none of the 3 candidates meets the constraints" in proc.stdout
    assert results["status"] == "ok" and len(results["bench"]) == 3  # the conversion and benchmarks are kept
    selection = results["selection"]
    assert selection["status"] == "none" and selection["pick"] is None
    failed = {c["id"]: c["failed"] for c in selection["candidates"]}
    assert all(any(f.startswith("max_latency_ms=0.0001 (") for f in why) for why in failed.values())
    assert "without_source (needs the model's Python source)" in failed["model"]
    run = tmp_path / "run"
    assert (run / "selection.png").is_file() and not (run / "deploy").exists()


def test_a_bad_select_value_is_one_line_before_anything_runs(convert):
    proc, _ = convert("+graph=openvino", *FAST, "+select=latency", "select.runtimes=[onnx]")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: select.runtimes=['onnx'] is not allowed")


@pytest.mark.slow
def test_tiny_bundle_runs_in_a_fresh_venv_without_torch(convert, tmp_path):
    """One runtime only (ONNX Runtime: the smallest closure that runs the tiny model), so CI stays fast."""
    proc, results = convert("+graph=openvino", *FAST, "+select=latency", "select.runtimes=[onnxruntime]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert results["selection"]["pick"] == "simplify"
    deploy = tmp_path / "run" / "deploy"
    assert sorted(p.name for p in deploy.iterdir()) == ["README.md", "core", "manifest.json", "model.onnx",
                                                       "predict.py", "requirements.txt", "validators"]
    requirements = (deploy / "requirements.txt").read_text()
    assert "onnxruntime==" in requirements and "numpy==" in requirements and "pillow==" in requirements
    assert "torch" not in requirements and "openvino" not in requirements and "tensorflow" not in requirements
    for file in SHIPPED:  # verbatim copies: one source of truth
        assert (deploy / file).read_bytes() == (REPO / file).read_bytes()
    check = subprocess.run([sys.executable, "-m", "bench.verify_bundle", str(deploy)], cwd=REPO,
                           capture_output=True, text=True, timeout=900)
    assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
    assert "PASSED" in check.stdout and "installed size:" in check.stdout
    report = json.loads((deploy / "verification.json").read_text())
    names = {line.split("==")[0].lower() for line in report["pip_list"]}
    assert "onnxruntime" in names and not names & {"torch", "openvino", "tensorflow", "convgraph"}
    assert report["checks"]["equals_project_adapter"] == "ok"
    assert report["checks"]["equals_run_record"].startswith("ok")


def test_a_sweep_selects_once_across_its_jobs(tmp_path, cache_dir):
    sweep = tmp_path / "sweep"
    env = {**os.environ, "CONVGRAPH_CACHE": str(cache_dir)}
    proc = subprocess.run([sys.executable, "convert.py", "-m", "+graph=openvino", *FAST, "precision=fp32,int8",
                           "+select=latency", "select.runtimes=[openvino]", "select.bundle=false",
                           f"hydra.sweep.dir={sweep}"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    selection = json.loads((sweep / "selection.json").read_text())
    ids = [c["id"] for c in selection["candidates"]]
    assert {"0/openvino", "1/openvino"} <= set(ids)  # both jobs' OpenVINO IRs compete
    assert len([i for i in ids if i.endswith("/simplify")]) == 1  # the same fp32 ONNX measured once
    assert selection["pick"] in ("0/openvino", "1/openvino") and selection["reason"] in proc.stdout
    assert not (sweep / "0" / "deploy").exists() and not (sweep / "deploy").exists()  # bundle=false
    assert all("selection" not in json.loads((sweep / j / "results.json").read_text()) for j in ("0", "1"))
