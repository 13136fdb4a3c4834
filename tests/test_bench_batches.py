"""bench.batch: parsing, which measurement each batch gets, and real runs where every runtime reports images/s
per batch, or says why a batch was skipped. (The dynamic export bench.batch implies: test_config.py; which
artifacts refuse a batch: test_registry.py.)"""
import pytest
from omegaconf import OmegaConf

from bench.settings import batch_sizes, mode_for, needs_dynamic_batch, throughput_plan
from core.errors import UserError


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


def test_dynamic_batch_exactly_when_another_batch_is_asked_for():
    assert needs_dynamic_batch([1, 4], 1) and needs_dynamic_batch(4, 1)
    assert not needs_dynamic_batch(None, 1) and not needs_dynamic_batch([1], 1) and not needs_dynamic_batch([4], 4)


def _entries(row) -> dict:
    return {entry.batch: entry for entry in row.throughput}


@pytest.mark.xdist_group("all_run")
def test_every_runtime_reports_images_per_second_per_batch(all_run):
    results = all_run.results
    assert all_run.artifact("export").inputs[0].shape[0] == -1  # batch [1,2] made the export's batch dynamic
    rows = {row.artifact: row for row in results.bench}
    assert "export" not in rows  # superseded by the simplified ONNX of the same format and precision
    assert {r.runtime for r in rows.values()} == {"torch", "onnxruntime", "openvino", "tensorflow", "tflite"}
    for name, row in rows.items():
        one, two = _entries(row)[1], _entries(row)[2]
        assert one.source == "latency row" and one.images_per_s == row.throughput_ips, name
        assert two.status == "ok" and two.images_per_s > 0 and two.mode == "throughput", name
        measured = two.measurement
        assert measured.batch == 2 and measured.images_per_s.n >= 1, name
        assert isinstance(row.noisy, bool) and isinstance(two.noisy, bool)
        assert row.compile_s > 0 and row.first_infer_s > 0 and row.peak_rss_mb > 0
        assert row.footprint.installed_mb > 0
    # the latency row runs one fixed shape; batch 2 runs with OpenVINO's throughput hint
    assert rows["openvino"].settings["PERFORMANCE_HINT"] == "LATENCY"
    assert rows["openvino"].settings["input_shapes"] == {"input": "[1,3,32,32]"}
    two = _entries(rows["openvino"])[2].measurement.settings
    assert two["PERFORMANCE_HINT"] == "THROUGHPUT" and two["input_shapes"] == {"input": "[2,3,32,32]"}
    assert two["infer_requests"] >= 1
    assert "img/s b1" in all_run.stdout and "img/s b2" in all_run.stdout  # the printed table's columns


@pytest.mark.xdist_group("failure_run")
def test_fixed_batch_is_skipped_not_failed_and_settings_are_recorded(failure_run):
    rows = {row.artifact: row for row in failure_run.results.bench}
    assert _entries(rows["model"])[4].status == "ok"  # eager PyTorch takes any batch
    for name in ("simplify", "openvino"):
        entry = _entries(rows[name])[4]
        assert entry.status == "skipped" and "input batch fixed at 1" in entry.reason
    # bench.runtime settings changed on the command line reach the runtimes, which report them back
    assert rows["simplify"].settings["graph_optimization_level"] == "basic"
    assert rows["openvino"].settings["NUM_STREAMS"] == 1
    assert "skip: input batch fixed at 1" in failure_run.stdout and "img/s b4" in failure_run.stdout
