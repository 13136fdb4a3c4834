"""compare: runs of one model from two machines side by side; different models or sizes are refused."""
import json
import subprocess
import sys

from tests.conftest import FAST, REPO


def test_two_machines_side_by_side_and_refusal(convert, tmp_path):
    proc, results = convert("+graph=openvino", *FAST, run_dir=tmp_path / "here")
    assert proc.returncode == 0, proc.stderr[-2000:]
    other = tmp_path / "there"
    other.mkdir()
    elsewhere = {**results, "environment": {**results["environment"], "host": "other-box"}}
    for row in elsewhere["bench"]:
        row["infer_ms"] = {**row["infer_ms"], "median": row["infer_ms"]["median"] * 2}  # a machine half as fast
    (other / "results.json").write_text(json.dumps(elsewhere))

    out = subprocess.run([sys.executable, "-m", "bench.compare", str(tmp_path / "here"), str(other), "--out",
                          str(tmp_path / "cmp")], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    table = (tmp_path / "cmp" / "compare.md").read_text()
    assert "other-box" in table and results["environment"]["host"] in table
    torch_row = next(line for line in table.splitlines() if line.startswith("| PyTorch"))
    assert torch_row.count("1.00x") == 2  # each machine's speed-up is against its own PyTorch
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 0

    refused = subprocess.run([sys.executable, "-m", "bench.compare", str(tmp_path / "here"), "--reference",
                              "seed-i7-8550u", "--out", str(tmp_path / "cmp2")], cwd=REPO, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode != 0
    assert "cannot compare: model differs" in refused.stderr and "tiny_cnn" in refused.stderr
