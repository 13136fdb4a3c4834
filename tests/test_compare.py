"""compare: runs of one model from two machines side by side; different models or sizes are refused. The run
is the shared ALL run (every runtime); the second machine is that run's results.json with another host and
half the speed."""
import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.xdist_group("all_run")


def test_two_machines_side_by_side_and_refusal(all_run, tmp_path):
    elsewhere = json.loads(json.dumps(all_run.data))
    elsewhere["environment"]["host"] = "other-box"
    for row in elsewhere["bench"]:
        row["infer_ms"]["median"] *= 2  # a machine half as fast
    other = tmp_path / "there"
    other.mkdir()
    (other / "results.json").write_text(json.dumps(elsewhere))

    out = subprocess.run([sys.executable, "-m", "report.compare", str(all_run.dir), str(other), "--out",
                          str(tmp_path / "cmp")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "cmp" / "compare.md").read_text()
    assert "other-box" in table and all_run.results.environment.host in table
    torch_row = next(line for line in table.splitlines() if line.startswith("| PyTorch"))
    assert torch_row.count("1.00x") == 2  # each machine's speed-up is against its own PyTorch
    for runtime in ("ONNX Runtime", "OpenVINO", "TensorFlow", "TensorFlow Lite"):
        assert any(line.startswith(f"| {runtime} ") for line in table.splitlines()), runtime
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 0

    refused = subprocess.run([sys.executable, "-m", "report.compare", str(all_run.dir), "--reference",
                              "seed-i7-8550u", "--out", str(tmp_path / "cmp2")], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode != 0
    assert "cannot compare: model differs" in refused.stderr and "tiny_cnn" in refused.stderr
    assert not (tmp_path / "cmp2" / "compare.md").exists()


def test_the_published_reference_is_read_as_its_record():
    from report.compare import reference_run

    seed = reference_run("seed-i7-8550u")
    assert seed.model == "yolov8n" and seed.size == 640 and "published, not measured here" in seed.label
    assert seed.cells[("torch", "fp32")].speedup == 1.0
    assert seed.cells[("openvino", "fp32")].speedup == pytest.approx(242.1 / 60.5)


def test_a_published_reference_missing_a_figure_is_one_line(tmp_path, monkeypatch):
    import report.compare as compare

    published = json.loads((compare.REFERENCES / "seed-i7-8550u.json").read_text())
    del published["bench"][1]["infer_ms"]["median"]
    (tmp_path / "broken.json").write_text(json.dumps(published))
    monkeypatch.setattr(compare, "REFERENCES", tmp_path)
    with pytest.raises(SystemExit) as refused:
        compare.reference_run("broken")
    assert str(refused.value) == f"error: {tmp_path / 'broken.json'}: bench.1.infer_ms.median: Field required"
