"""A graph can start from an ONNX, TorchScript or ExportedProgram file; the steps before that format are left out."""
import pytest
import torch

from converters.models import TinyCNN
from tests.conftest import FAST

NO_BENCH = [*FAST, "bench.enabled=false"]


def test_graph_from_an_onnx_file(convert, tmp_path):
    proc, first = convert("+graph=openvino", *NO_BENCH, run_dir=tmp_path / "a")
    assert proc.returncode == 0
    onnx_file = next(a for a in first["artifacts"] if a["name"] == "export")["path"]

    proc, results = convert("+graph=openvino", "model=onnx", f"model.path={onnx_file}", *FAST[1:],
                            run_dir=tmp_path / "b")
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = {s["name"] for s in results["steps"]}
    assert "export" not in steps and {"model", "simplify", "openvino"} <= steps
    assert results["artifacts"][0]["format"] == "onnx" and results["inputs"]["size"] == 32  # size read from file
    assert {b["runtime"] for b in results["bench"]} == {"onnxruntime", "openvino"}
    assert all(p["passed"] for p in results["parity"]) and results["status"] == "ok"


@pytest.mark.parametrize("kind", ["torchscript", "exported_program"])
def test_graph_from_a_torch_file_without_source_code(convert, tmp_path, kind):
    model = TinyCNN().eval()
    example = torch.randn(1, 3, 32, 32)
    if kind == "torchscript":
        path = tmp_path / "tiny.pt"
        torch.jit.save(torch.jit.trace(model, example), path)
        opset = "opset=17"
    else:
        path = tmp_path / "tiny.pt2"
        torch.export.save(torch.export.export(model, (example,)), path)
        opset = "opset=18"  # the dynamo exporter takes the ExportedProgram as it is
    proc, results = convert("+graph=openvino", "model=torchscript", f"model.path={path}", "model.size=32", opset,
                            *NO_BENCH[1:])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert results["artifacts"][0]["meta"]["loader"] == kind
    assert all(p["passed"] for p in results["parity"]) and len(results["parity"]) >= 3


def test_corrupt_onnx_file_is_one_line(convert, tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf")
    proc, _ = convert("+graph=openvino", "model=onnx", f"model.path={bad}", *NO_BENCH[1:])
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "is not a valid ONNX file" in lines[0], proc.stderr
