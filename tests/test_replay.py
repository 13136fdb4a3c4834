"""tools/replay.py: a recorded run made again on this machine hashes as recorded, artifact by artifact.

The recorded run goes through the TFLite graph because its SavedModel is the one artifact that is not
byte-identical between two conversions (fingerprint.pb); the replay must still match it.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.artifact import hash_path
from tests.conftest import FAST, REPO, Run, cli_env, run_convert

pytestmark = pytest.mark.cli
RECORD = ["+graph=tflite", *FAST, "~graph.steps.tflite_fp16"]
ARTIFACTS = {"model", "export", "simplify", "tf", "tflite_fp32"}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, cache_dir, bench_lock) -> Run:
    """The record, made with the session's cache as a user's run would be."""
    run = run_convert(*RECORD, run_dir=tmp_path_factory.mktemp("replay") / "rec", cache=cache_dir, lock=bench_lock)
    assert run.returncode == 0, run.tail()
    return run


def replay(run_dir: Path, *args: str, cache: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.replay", str(run_dir), *args], cwd=REPO,
                          env=cli_env(cache), capture_output=True, text=True, timeout=900)


def table_rows(stdout: str, names: set[str] = ARTIFACTS) -> dict[str, list[str]]:
    """The replay table's rows by artifact name."""
    return {line.split()[0]: line.split() for line in stdout.splitlines() if line.split()[:1]
            and line.split()[0] in names}


@pytest.mark.xdist_group("replay")  # the one reader of `recorded`: the other tests are free to run elsewhere
def test_replay_matches_every_hash(recorded, tmp_path, cache_dir):
    done = replay(recorded.dir, "--out", str(tmp_path / "again"), cache=cache_dir)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = table_rows(done.stdout)
    assert set(rows) == ARTIFACTS
    for name, row in rows.items():
        artifact = recorded.artifact(name)
        assert row[2] == artifact.sha256[:12] and row[3] == row[2] and row[4] == "yes", done.stdout
    # each measured runtime's median beside the record's, and the ratio of the two
    tflite = rows["tflite_fp32"]
    assert tflite[1] == "tflite" and float(tflite[5]) == pytest.approx(recorded.bench("tflite_fp32").infer_ms.median,
                                                                        abs=1e-3)
    assert float(tflite[6]) > 0 and float(tflite[7]) > 0
    assert "5/5 artifacts hash as recorded" in done.stdout and "config: as recorded" in done.stdout
    # the conversions really ran again: the replay's artifacts live in its own run dir, not in the cache
    replayed = json.loads((tmp_path / "again" / "results.json").read_text())
    assert replayed["config"]["cache"]["enabled"] is False
    assert all(a["path"].startswith(str(tmp_path / "again")) for a in replayed["artifacts"])
    assert "| tflite_fp32 |" in (tmp_path / "again" / "replay.md").read_text()


def test_a_tampered_hash_is_a_mismatch(tmp_path, cache_dir, bench_lock):
    # a graph without TensorFlow: the mismatch path needs a record, not the slow SavedModel conversion; and no
    # benchmarks (this test reads hashes only): the replay runs the record's own overrides, so neither measures
    recorded = run_convert("+graph=openvino", *FAST, "bench.enabled=false", run_dir=tmp_path / "rec", cache=cache_dir,
                           lock=bench_lock)
    assert recorded.returncode == 0, recorded.tail()
    copy = tmp_path / "copy"
    shutil.copytree(recorded.dir / ".hydra", copy / ".hydra")
    data = json.loads((recorded.dir / "results.json").read_text())
    export = next(a for a in data["artifacts"] if a["name"] == "export")
    export["sha256"] = "0" * 64
    (copy / "results.json").write_text(json.dumps(data))
    done = replay(copy, cache=cache_dir)
    assert done.returncode == 1, done.stdout + done.stderr
    rows = table_rows(done.stdout, {"model", "export", "simplify", "openvino"})
    assert rows["export"][2:5] == ["000000000000", recorded.artifact("export").sha256[:12], "NO"]
    assert all(row[4] == "yes" for name, row in rows.items() if name != "export")
    assert len(rows) == 4
    assert "3/4 artifacts hash as recorded" in done.stdout
    assert (tmp_path / "copy-replay" / "results.json").is_file()  # the default place: beside the record


def test_not_a_run_dir_is_one_line(tmp_path):
    done = replay(tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"error: {tmp_path} is not a run directory: it has no results.json"]
    (tmp_path / "results.json").write_text("{}")
    done = replay(tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"error: {tmp_path} has no .hydra/overrides.yaml (the overrides Hydra saves "
                                        "with each run): nothing to replay"]


def test_a_savedmodel_hashes_without_its_fingerprint(tmp_path):
    """fingerprint.pb changes on every save of the same model; saved_model.pb and variables/ define it."""
    saved = tmp_path / "saved_model"
    (saved / "variables").mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(b"graph")
    (saved / "variables" / "variables.index").write_bytes(b"weights")
    (saved / "fingerprint.pb").write_bytes(b"first save")
    first = hash_path(saved)
    (saved / "fingerprint.pb").write_bytes(b"second save!")
    assert hash_path(saved)[0] == first[0] and hash_path(saved)[1] == first[1] + 2  # its bytes still count
    (saved / "variables" / "variables.index").write_bytes(b"other weights")
    assert hash_path(saved)[0] != first[0]
    (saved / "saved_model.pb").unlink()  # not a SavedModel: every file counts
    other = hash_path(saved)[0]
    (saved / "fingerprint.pb").write_bytes(b"third")
    assert hash_path(saved)[0] != other
