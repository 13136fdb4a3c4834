"""torch_to_onnx: the opset asked for is the opset written, by the exporter the opset calls for, and the ONNX
passes parity on the run's inputs (17, legacy: the ALL run; 13 and 18 exported here from its model)."""
import onnx
import pytest

from converters import torch_to_onnx
from converters.step_io.onnx_io import opset_of
from converters.torch_to_onnx import choose_exporter
from core.errors import StepFailed
from tests.conftest import infer


def test_auto_exporter_follows_opset():
    assert choose_exporter("auto", 13) == "legacy"
    assert choose_exporter("auto", 17) == "legacy"
    assert choose_exporter("auto", 18) == "dynamo"
    assert choose_exporter("legacy", 18) == "legacy"
    with pytest.raises(StepFailed, match="opset 13"):
        choose_exporter("dynamo", 13)


@pytest.mark.xdist_group("all_run")
def test_the_run_exported_at_its_opset(all_run):
    export = all_run.artifact("export")
    assert opset_of(onnx.load(export.path)) == export.meta["opset"] == 17 == all_run.results.opset
    assert export.meta["exporter"] == "legacy" and export.meta["dynamic_batch"] is True
    assert all_run.parity("export").passed


@pytest.mark.xdist_group("all_run")
@pytest.mark.parametrize("opset", [13, 18])
def test_export_writes_requested_opset_and_passes_parity(all_run, tmp_path, opset):
    options = torch_to_onnx.Options(opset=opset, exporter="auto", dynamic_batch=False)
    (export,) = torch_to_onnx.convert(all_run.artifact("model"), options, all_run.step_inputs(), tmp_path)
    assert opset_of(onnx.load(export.path)) == opset == export.meta["opset"]
    assert export.meta["exporter"] == ("legacy" if opset < 18 else "dynamo")
    assert export.inputs[0].shape == [1, 3, 32, 32] and [o.name for o in export.outputs] == ["logits"]
    outputs, _ = infer(export.seal(), all_run.dir / "inputs.npz", tmp_path / "infer")
    report = all_run.check(export, outputs)
    assert report.passed, report.failure_line()
