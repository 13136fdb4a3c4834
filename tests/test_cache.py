"""The step cache: hits on identical input, misses when an option changes, never trusts a partial entry."""
import json

from core.artifact import Artifact
from pipeline.cache import StepCache
from tests.conftest import FAST

NO_BENCH = [*FAST, "bench.enabled=false"]


def _statuses(results):
    return {s["name"]: s["status"] for s in results["steps"]}


def test_second_run_is_cached_and_option_change_misses(convert, tmp_path):
    cache = f"cache.dir={tmp_path / 'cache'}"
    proc, first = convert("+graph=openvino", *NO_BENCH, cache, run_dir=tmp_path / "a")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert set(_statuses(first).values()) <= {"ok", "n/a"}

    proc, second = convert("+graph=openvino", *NO_BENCH, cache, run_dir=tmp_path / "b")
    assert proc.returncode == 0
    assert _statuses(second) == {"model": "cached", "export": "cached", "simplify": "cached",
                                 "openvino": "cached", "onnx_lowp": "n/a"}
    shas = lambda r: {a["name"]: a["sha256"] for a in r["artifacts"]}  # noqa: E731
    assert shas(first) == shas(second)

    # a changed export option misses for export and everything downstream, not for the model
    proc, third = convert("+graph=openvino", *NO_BENCH, cache, "opset=13", run_dir=tmp_path / "c")
    assert proc.returncode == 0
    assert _statuses(third)["model"] == "cached"
    assert all(_statuses(third)[s] == "ok" for s in ("export", "simplify", "openvino"))


def test_cache_disabled_converts_into_the_run_dir(convert, tmp_path):
    proc, results = convert("+graph=openvino", *NO_BENCH, "cache.enabled=false", run_dir=tmp_path / "r")
    assert proc.returncode == 0
    assert all(s["status"] in ("ok", "n/a") for s in results["steps"])
    assert all(a["path"].startswith(str(tmp_path / "r")) for a in results["artifacts"])


def test_step_killed_by_its_timeout_leaves_no_entry(convert, tmp_path):
    cache_dir = tmp_path / "cache"
    proc, results = convert("+graph=openvino", *NO_BENCH, f"cache.dir={cache_dir}",
                            "graph.steps.simplify.timeout_s=0.2", run_dir=tmp_path / "k")
    assert proc.returncode == 1
    simplify = next(s for s in results["steps"] if s["name"] == "simplify")
    assert simplify["status"] == "failed" and simplify["error"] == "timed out"
    assert not (cache_dir / "entries" / simplify["cache_key"]).exists()
    assert list((cache_dir / "tmp").iterdir()) == []  # its work dir is gone too
    assert {s["name"]: s["status"] for s in results["steps"]}["openvino"] == "skipped"


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


def test_int8_steps_hit_the_cache_from_another_run_dir(convert, tmp_path):
    """The calibration file lives in each run's own dir: its content, not its path, is in the key."""
    cache = f"cache.dir={tmp_path / 'cache'}"
    for run in ("a", "b"):
        proc, results = convert("+graph=openvino", *NO_BENCH, "precision=int8", cache, run_dir=tmp_path / run)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert _statuses(results)["openvino"] == "cached" and _statuses(results)["onnx_lowp"] == "cached"
