"""The step cache: hits on identical input (int8 steps too, from another run dir), misses when an option changes,
never trusts a partial entry; a step killed by its timeout leaves no entry. (The cache turned off: the HEAD
shared run, test_onnx_to_tf.py.)"""
import json

import pytest

from core.artifact import Artifact
from pipeline.cache import StepCache
from tests.conftest import FAST

# int8: two steps (openvino, onnx_lowp) read the run's own calibration file
INT8 = ["+graph=openvino", *FAST, "precision=int8", "bench.enabled=false"]
NO_NNCF = "~graph.steps.openvino"  # for the runs after the first two: NNCF adds time, not a case


def test_unpublished_or_altered_entry_is_never_trusted(tmp_path):
    cache = StepCache(tmp_path)
    workdir = cache.reserve("k1")
    (workdir / "model.onnx").write_bytes(b"half a model")  # killed before publish: no manifest, no rename
    assert cache.lookup("k1") is None

    artifact = Artifact(name="", format="onnx", path=str(workdir / "model.onnx")).seal()
    published = cache.publish("k1", workdir, [artifact])
    assert cache.lookup("k1")[0].sha256 == published[0].sha256
    (tmp_path / "entries" / "k1" / "model.onnx").write_bytes(b"tampered")
    assert cache.lookup("k1") is None
    assert json.loads((tmp_path / "entries" / "k1" / "artifacts.json").read_text())[0]["path"] == "model.onnx"


def test_second_publisher_adopts_the_first_entry(tmp_path):
    cache = StepCache(tmp_path)
    first, second = cache.reserve("k"), cache.reserve("k")
    (first / "a.onnx").write_bytes(b"one")
    (second / "a.onnx").write_bytes(b"two")
    a = cache.publish("k", first, [Artifact(name="", format="onnx", path=str(first / "a.onnx")).seal()])
    b = cache.publish("k", second, [Artifact(name="", format="onnx", path=str(second / "a.onnx")).seal()])
    assert a[0].sha256 == b[0].sha256 and not second.exists()


# ---- one private cache, runs in order ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def private_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("private_cache")


@pytest.fixture(scope="module")
def first_two(private_cache, tmp_path_factory):
    """The same int8 graph twice, from two run dirs (each has its own calibration.npy), on an empty cache."""
    from tests.conftest import run_convert

    base = tmp_path_factory.mktemp("cache_runs")
    return [run_convert(*INT8, run_dir=base / run, cache=private_cache) for run in ("a", "b")]


@pytest.mark.xdist_group("cache")
def test_second_run_is_cached_with_identical_hashes_int8_steps_included(first_two):
    first, second = first_two
    assert first.returncode == 0, first.tail()
    assert set(first.statuses().values()) == {"ok"}  # an empty cache: everything converted
    assert second.returncode == 0, second.tail()
    # The calibration file lives in each run's own dir: its content, not its path, is in the int8 steps' keys.
    assert second.statuses() == {"model": "cached", "export": "cached", "simplify": "cached",
                                 "openvino": "cached", "onnx_lowp": "cached"}

    def shas(run):
        return {a.name: a.sha256 for a in run.results.artifacts}

    assert shas(first) == shas(second) and len(shas(first)) == 5
    assert first.results.calibration["sha256"] == second.results.calibration["sha256"]


@pytest.mark.xdist_group("cache")
def test_an_option_change_misses_for_that_step_and_downstream_only(first_two, private_cache, convert):
    run = convert(*INT8, NO_NNCF, "opset=13", cache=private_cache)
    assert run.returncode == 0, run.tail()
    statuses = run.statuses()
    assert statuses["model"] == "cached"
    assert all(statuses[s] == "ok" for s in ("export", "simplify", "onnx_lowp")), statuses


@pytest.mark.xdist_group("cache")
def test_step_killed_by_its_timeout_leaves_no_entry(first_two, private_cache, convert):
    run = convert(*INT8, NO_NNCF, "graph.steps.export.dynamic_batch=true", "graph.steps.simplify.timeout_s=0.2",
                  cache=private_cache)
    assert run.returncode == 1
    steps = run.steps()
    assert steps["model"].status == "cached" and steps["export"].status == "ok"  # a new export key: converted
    simplify = steps["simplify"]
    assert simplify.status == "failed" and simplify.error == "timed out"
    assert not (private_cache / "entries" / simplify.cache_key).exists()
    assert list((private_cache / "tmp").iterdir()) == []  # its work dir is gone too
    assert steps["onnx_lowp"].status == "skipped"
    assert run.results.status == "failed"
