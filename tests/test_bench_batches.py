"""bench.batch: parsing, which measurement each batch gets, the dynamic export it implies, and real runs where
every runtime reports images/s per batch (or says why a batch was skipped)."""
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from bench.settings import batch_sizes, mode_for, needs_dynamic_batch, throughput_plan
from core.artifact import Artifact, TensorSpec
from core.errors import UserError
from pipeline.config_check import CONF_DIR
from tests.conftest import FAST
from validators.runtimes import batch_refusal


def test_batch_sizes_from_int_list_string_and_hydra_list():
    assert batch_sizes(None) == []
    assert batch_sizes(4) == [4]
    assert batch_sizes([1, 4, 4, 8]) == [1, 4, 8]  # distinct, in the order given
    assert batch_sizes("1,4") == [1, 4] and batch_sizes("[2]") == [2]
    assert batch_sizes(OmegaConf.create({"b": [4, 1]}).b) == [4, 1]


@pytest.mark.parametrize("bad", [0, -1, [1, 0], 2.5, True, "x", [None]])
def test_bad_batch_sizes_are_one_line(bad):
    with pytest.raises(UserError, match="bench.batch=.* is not allowed"):
        batch_sizes(bad)


def test_plan_reuses_the_latency_row_only_for_the_same_measurement():
    assert mode_for(1) == "latency" and mode_for(4) == "throughput"
    assert throughput_plan([1, 4], 1) == [(1, "latency row"), (4, "measure")]
    # input.batch=4: the latency row is one request of 4; images/s at 4 uses the throughput setting
    assert throughput_plan([1, 4], 4) == [(1, "measure"), (4, "measure")]


def test_dynamic_export_exactly_when_another_batch_is_asked_for():
    assert needs_dynamic_batch([1, 4], 1) and needs_dynamic_batch(4, 1)
    assert not needs_dynamic_batch(None, 1) and not needs_dynamic_batch([1], 1) and not needs_dynamic_batch([4], 4)
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        def export(*overrides):
            cfg = compose("config", overrides=["+graph=openvino", "model=tiny_cnn", *overrides])
            return OmegaConf.to_container(cfg.graph.steps.export, resolve=True)["dynamic_batch"]

        assert export() is False
        assert export("bench.batch=[1,4]") is True
        assert export("bench.batch=[1,4]", "graph.steps.export.dynamic_batch=false") is False  # the user decides


def _artifact(fmt: str, batch: int, loader: str | None = None) -> Artifact:
    return Artifact(name="a", format=fmt, path="/nowhere", inputs=[TensorSpec("input", [batch, 3, 8, 8], "NCHW")],
                    meta={"loader": loader} if loader else {})


def test_fixed_batch_artifacts_are_refused_with_the_reason():
    assert batch_refusal(_artifact("torch", 1), 4) == ""  # eager PyTorch takes any batch
    assert batch_refusal(_artifact("onnx", -1), 4) == "" and batch_refusal(_artifact("openvino", 4), 4) == ""
    assert "input batch fixed at 1" in batch_refusal(_artifact("onnx", 1), 4)
    assert "dynamic_batch=true" in batch_refusal(_artifact("tflite", 1), 4)
    assert batch_refusal(_artifact("torch", 1, "torchscript"), 4)  # a traced graph may have its batch baked in


def _entries(row: dict) -> dict[int, dict]:
    return {entry["batch"]: entry for entry in row["throughput"]}


def test_every_runtime_reports_images_per_second_per_batch(convert):
    proc, results = convert("+graph=all", *FAST, "bench.batch=[1,4]")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert next(a for a in results["artifacts"] if a["name"] == "export")["inputs"][0]["shape"][0] == -1
    rows = {row["artifact"]: row for row in results["bench"]}
    assert {r["runtime"] for r in rows.values()} == {"torch", "onnxruntime", "openvino", "tensorflow", "tflite"}
    for name, row in rows.items():
        one, four = _entries(row)[1], _entries(row)[4]
        assert one["source"] == "latency row" and one["images_per_s"] == row["throughput_ips"], name
        assert four["status"] == "ok" and four["images_per_s"] > 0 and four["mode"] == "throughput", name
        measured = four["measurement"]
        assert measured["batch"] == 4 and measured["images_per_s"]["n"] >= 1, name
        assert isinstance(row["noisy"], bool) and isinstance(four["noisy"], bool)
        assert row["compile_s"] > 0 and row["first_infer_s"] > 0 and row["peak_rss_mb"] > 0
        assert row["footprint"]["installed_mb"] > 0
    # the latency row runs one fixed shape; batch 4 runs with OpenVINO's throughput hint
    assert rows["openvino"]["settings"]["PERFORMANCE_HINT"] == "LATENCY"
    assert rows["openvino"]["settings"]["input_shape"] == "[1,3,32,32]"
    four = _entries(rows["openvino"])[4]["measurement"]["settings"]
    assert four["PERFORMANCE_HINT"] == "THROUGHPUT" and four["input_shape"] == "[4,3,32,32]"
    assert four["infer_requests"] >= 1


def test_fixed_batch_is_skipped_not_failed_and_settings_are_recorded(convert):
    proc, results = convert("+graph=openvino", *FAST, "bench.batch=[4]", "graph.steps.export.dynamic_batch=false",
                            "bench.runtime.onnxruntime.graph_optimization_level=basic",
                            "+bench.runtime.openvino.config.NUM_STREAMS=1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {row["artifact"]: row for row in results["bench"]}
    assert _entries(rows["model"])[4]["status"] == "ok"  # eager PyTorch takes any batch
    for name in ("simplify", "openvino"):
        entry = _entries(rows[name])[4]
        assert entry["status"] == "skipped" and "input batch fixed at 1" in entry["reason"]
    assert rows["simplify"]["settings"]["graph_optimization_level"] == "basic"
    assert rows["openvino"]["settings"]["NUM_STREAMS"] == 1
    assert "skip: input batch fixed at 1" in proc.stdout and "img/s b4" in proc.stdout
