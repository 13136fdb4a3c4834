"""torch_to_onnx: the opset asked for is the opset written, by the exporter the opset calls for."""
import onnx
import pytest

from converters.onnx_io import opset_of
from converters.torch_to_onnx import choose_exporter
from core.errors import StepFailed
from tests.conftest import FAST


def test_auto_exporter_follows_opset():
    assert choose_exporter("auto", 13) == "legacy"
    assert choose_exporter("auto", 17) == "legacy"
    assert choose_exporter("auto", 18) == "dynamo"
    with pytest.raises(StepFailed, match="opset 13"):
        choose_exporter("dynamo", 13)


@pytest.mark.parametrize("opset", [13, 18])
def test_export_writes_requested_opset_and_passes_parity(convert, opset):
    proc, results = convert("+graph=openvino", *FAST, f"opset={opset}", "bench.enabled=false")
    assert proc.returncode == 0, proc.stderr[-2000:]
    export = next(a for a in results["artifacts"] if a["name"] == "export")
    assert opset_of(onnx.load(export["path"])) == opset
    assert export["meta"]["exporter"] == ("legacy" if opset < 18 else "dynamo")
    assert next(p for p in results["parity"] if p["artifact"] == "export")["passed"]
