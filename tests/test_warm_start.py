"""A child started from a warm parent (pipeline/warm_start.py, core/warm_parent.py) is what a cold start of
`python -m MODULE` is: same argv, cwd, sys.path, environment, its own session, its output into its log, the
same exit codes; a timeout kills it and what it started; a warm parent that dies sends the next child to a
cold start. The light library `json` stands in for TensorFlow (test_runtimes.py runs a TensorFlow child warm
and cold)."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from pipeline import warm_start
from pipeline.child import REPO_ROOT, child_env
from pipeline.warm_start import WarmParent


@pytest.fixture
def parent():
    made = WarmParent("json", child_env(), REPO_ROOT)
    yield made
    made.close()
    made.proc.wait(timeout=30)


def _cold(argv: list[str], log) -> int:
    with open(log, "ab") as out:
        return subprocess.run([sys.executable, "-m", "tests.warm_child", *argv], cwd=REPO_ROOT, env=child_env(),
                              stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                              start_new_session=True).returncode  # as pipeline.child starts one


def test_a_warm_child_sees_what_a_cold_one_sees(parent, tmp_path):
    assert parent.run("tests.warm_child", ["facts", str(tmp_path / "warm.json")], tmp_path / "warm.log", 60) == 0
    assert _cold(["facts", str(tmp_path / "cold.json")], tmp_path / "cold.log") == 0
    warm, cold = (json.loads((tmp_path / f"{k}.json").read_text()) for k in ("warm", "cold"))
    assert warm["argv"][1:] == ["facts", str(tmp_path / "warm.json")]
    assert {**warm, "argv": warm["argv"][:2]} == {**cold, "argv": cold["argv"][:2]}
    assert warm["name"] == "__main__" and warm["stdin"] == "" and warm["own_session"] is True
    assert sorted((tmp_path / "warm.log").read_text().splitlines()) == ["to stderr", "to stdout"]


@pytest.mark.parametrize("argv, code, logged", [(["exit", "3"], 3, ""), (["message"], 1, "a message instead"),
                                                (["raise"], 1, "ValueError: raised in the child"),
                                                (["signal"], -signal.SIGSEGV, "")])
def test_a_warm_child_ends_with_the_code_a_cold_one_gives(parent, tmp_path, argv, code, logged):
    assert _cold(argv, tmp_path / "cold.log") == code
    assert parent.run("tests.warm_child", argv, tmp_path / "warm.log", 60) == code
    assert logged in (tmp_path / "warm.log").read_text()
    assert parent.run("tests.warm_child", ["exit", "0"], tmp_path / "next.log", 60) == 0  # still in step


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_timeout_kills_the_child_and_what_it_started(parent, tmp_path):
    start = time.monotonic()
    assert parent.run("tests.warm_child", ["hang", str(tmp_path / "pid")], tmp_path / "hang.log", 3) is None
    assert time.monotonic() - start < 30
    grandchild = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 10
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(grandchild)
    assert parent.run("tests.warm_child", ["exit", "4"], tmp_path / "next.log", 60) == 4


def test_a_warm_parent_that_dies_sends_its_library_to_cold_starts(monkeypatch, tmp_path):
    monkeypatch.setattr(warm_start, "_parents", {})
    monkeypatch.setattr(warm_start, "_refused", set())
    parent = warm_start.warm_parent("json", child_env(), REPO_ROOT)
    assert parent is not None and warm_start.warm_parent("json", child_env(), REPO_ROOT) is parent
    threading.Timer(2.0, parent.proc.kill).start()
    code = parent.run("tests.warm_child", ["hang", str(tmp_path / "pid")], tmp_path / "hang.log", 60)
    assert code == -signal.SIGKILL
    grandchild = int((tmp_path / "pid").read_text())
    child = _alive(grandchild)  # the child died with its parent; its own child is an orphan of init's
    os.kill(grandchild, signal.SIGKILL) if child else None
    assert warm_start.warm_parent("json", child_env(), REPO_ROOT) is None
    assert warm_start.warm_parent("json", child_env(), REPO_ROOT) is None  # and stays cold


def test_a_changed_environment_gets_a_new_warm_parent(monkeypatch):
    monkeypatch.setattr(warm_start, "_parents", {})
    monkeypatch.setattr(warm_start, "_refused", set())
    first = warm_start.warm_parent("json", child_env(), REPO_ROOT)
    second = warm_start.warm_parent("json", {**child_env(), "WARM_CHILD_MARK": "1"}, REPO_ROOT)
    assert second is not None and second is not first and second.env["WARM_CHILD_MARK"] == "1"
    first.proc.wait(timeout=30)  # told to end: its input closed
    second.close()
    monkeypatch.setenv("CONVGRAPH_COLD_CHILDREN", "1")
    assert warm_start.warm_parent("json", child_env(), REPO_ROOT) is None


def test_the_switch_takes_yes_and_no_and_says_so_in_one_line_for_anything_else(monkeypatch, caplog):
    # Hydra's logging set-up, run in-process by other tests in this worker, disables loggers that already exist
    monkeypatch.setattr(warm_start.log, "disabled", False)
    monkeypatch.setattr(warm_start, "_warned", set())
    caplog.set_level(logging.WARNING, logger=warm_start.log.name)
    for value, cold in (("yes", True), ("TRUE", True), ("0", False), ("no", False), ("", False)):
        monkeypatch.setenv("CONVGRAPH_COLD_CHILDREN", value)
        assert warm_start._cold_children() is cold
    monkeypatch.setenv("CONVGRAPH_COLD_CHILDREN", "sometimes")
    assert warm_start._cold_children() is True and warm_start._cold_children() is True
    said = [r.getMessage() for r in caplog.records if "CONVGRAPH_COLD_CHILDREN" in r.getMessage()]
    assert said == ["CONVGRAPH_COLD_CHILDREN=sometimes is not allowed; give 1, true or yes (every child starts "
                    "cold) or 0, false or no: starting children cold"]
