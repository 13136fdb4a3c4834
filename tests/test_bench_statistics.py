"""Timing statistics on constructed samples: percentiles, coefficient of variation, the noisy flag and its mark."""
import math

import numpy as np
import pytest

from bench.timing import is_noisy, summarize
from pipeline.results import RunResults
from report.run_report import NOISY_MARK, render_markdown, render_text


def test_percentiles_and_median_interpolate_linearly():
    stats = summarize(list(range(1, 11)))  # 1..10 ms
    assert stats["min"] == 1 and stats["median"] == 5.5 and stats["n"] == 10
    assert stats["p90"] == pytest.approx(9.1) and stats["p99"] == pytest.approx(9.91)
    assert summarize([3.0, 1.0, 2.0])["median"] == 2.0  # order does not matter


def test_cv_is_sample_std_over_mean():
    samples = [10.0, 12.0, 14.0]
    stats = summarize(samples)
    assert stats["mean"] == 12.0 and stats["std"] == pytest.approx(2.0)  # ddof=1: sqrt((4 + 0 + 4) / 2)
    assert stats["cv"] == pytest.approx(2.0 / 12.0)
    hundred = summarize(np.arange(1, 101))
    assert hundred["cv"] == pytest.approx(math.sqrt(101 * 100 / 12) / 50.5)


def test_constant_single_and_empty_samples():
    assert summarize([5.0] * 20)["cv"] == 0.0
    one = summarize([7.0])
    assert one["std"] == 0.0 and one["cv"] == 0.0 and one["p99"] == 7.0
    with pytest.raises(ValueError):
        summarize([])


def test_one_spike_makes_a_measurement_noisy_but_not_its_median():
    steady = [10.0] * 19
    spiky = summarize([*steady, 100.0])  # a neighbour's burst during one of 20 inferences
    assert spiky["median"] == 10.0
    assert spiky["cv"] > 0.10 and is_noisy(spiky, 0.10)
    assert not is_noisy(summarize([10.0, 10.2, 9.9, 10.1]), 0.10)


def test_noisy_threshold_edges():
    assert not is_noisy({"cv": 0.10}, 0.10)  # above the threshold, not at it
    assert is_noisy({"cv": 0.1001}, 0.10)
    assert not is_noisy({"cv": 5.0}, None)  # null threshold: never marked


def _results(noisy: bool) -> RunResults:
    row = {"artifact": "simplify", "runtime": "onnxruntime", "status": "ok", "executed_precision": "fp32",
           "pre_ms": 1.0, "post_ms": 0.5, "infer_ms": summarize([10.0, 11.0, 30.0] if noisy else [10.0, 10.1, 9.9]),
           "throughput_ips": 100.0, "compile_s": 0.2, "first_infer_s": 0.05, "peak_rss_mb": 120.0, "noisy": noisy,
           "footprint": {"version": "1.32.0", "installed_mb": 148.0, "runs_without_source": True},
           "throughput": [{"batch": 1, "mode": "latency", "status": "ok", "images_per_s": 100.0, "noisy": noisy},
                          {"batch": 4, "mode": "throughput", "status": "skipped", "reason": "input batch fixed at 1"}]}
    return RunResults.model_validate({
        "graph": "openvino", "model": "tiny_cnn", "status": "ok", "run_dir": "/tmp/x", "precision": "fp32",
        "opset": 17, "inputs": {"batch": 1, "size": 32}, "parity": [], "steps": [],
        "artifacts": [{"name": "simplify", "format": "onnx", "path": "/tmp/x/model.onnx", "bytes": 2**20}],
        "bench": [row], "environment": {"host": "h", "cpu": {"model": "cpu", "cores": 2, "flags": ["avx2"]}},
        "config": {"bench": {"noisy_cv": 0.1}}})


def test_noisy_rows_are_marked_with_a_footnote():
    text = render_text(_results(noisy=True))
    assert f"11.00{NOISY_MARK}" in text and f"100.0{NOISY_MARK}" in text
    assert "noisy: coefficient of variation above bench.noisy_cv=0.1" in text
    assert "skip: input batch fixed at 1" in text and "img/s b4" in text and "148 (1.32.0)" in text
    quiet = render_text(_results(noisy=False))
    assert NOISY_MARK not in quiet and "noisy:" not in quiet and "10.00 " in quiet
    markdown = render_markdown(_results(noisy=True))  # the secondary columns live in report.md
    table = [line for line in markdown.splitlines() if line.startswith("| runtime") or line.startswith("| ONNX")]
    header, row = ([cell.strip() for cell in line.strip("|").split("|")] for line in table)
    cells = dict(zip(header, row, strict=True))
    assert cells["cv"] == "66.3%" and cells["pre ms"] == "1.00" and cells["infer ms"] == f"11.00{NOISY_MARK}"
    assert cells["img/s b4"] == "skip" and cells["needs model source"] == "no"
