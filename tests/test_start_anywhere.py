"""A graph can start from an ONNX, TorchScript or ExportedProgram file; the steps before that format are left out
and the reference is the file itself, run without the model's source."""
import pytest
import torch

from converters import onnx_file
from converters.step_io.step_inputs import SourceOptions, StepInputs
from core.errors import UserError
from core.feeds import Feed
from models.builtin import TinyCNN
from pipeline.bindings import bind, check_model_file, declared_inputs
from pipeline.schema import Model
from tests.conftest import FAST, parsed

NO_BENCH = [*FAST, "bench.enabled=false"]


@pytest.mark.xdist_group("failure_run")
def test_graph_from_an_onnx_file(failure_run, convert):
    """The FAILURE run's export (a fixed-batch ONNX at opset 17) as the user's file."""
    onnx_path = failure_run.artifact("export").path
    run = convert("+graph=openvino", "model=onnx", f"model.path={onnx_path}", *FAST[1:])
    assert run.returncode == 0, run.tail()
    steps = run.statuses()
    assert "export" not in steps and {"model", "simplify", "openvino"} <= set(steps)
    source = run.results.artifacts[0]
    assert source.name == "model" and source.format == "onnx" and source.meta["origin"] == onnx_path
    assert run.results.inputs.size == 32  # read from the file
    assert {b.runtime for b in run.results.bench} == {"onnxruntime", "openvino"}  # the reference is ONNX Runtime
    assert all(p.passed and p.reference == "model" for p in run.results.parity) and run.results.status == "ok"


def _torchscript(tmp_path):
    path = tmp_path / "tiny.pt"
    torch.jit.save(torch.jit.trace(TinyCNN().eval(), torch.randn(1, 3, 32, 32)), path)
    return path


def test_graph_from_a_torchscript_file_without_source_code(convert, tmp_path):
    run = convert("+graph=openvino", "model=torchscript", f"model.path={_torchscript(tmp_path)}", "model.size=32",
                  "opset=17", *NO_BENCH[1:])
    assert run.returncode == 0, run.tail()
    model = run.results.artifacts[0]
    assert model.name == "model" and model.format == "torch" and model.meta["loader"] == "torchscript"
    assert run.artifact("export").meta["exporter"] == "legacy"
    assert {p.artifact for p in run.results.parity} == {"export", "simplify", "openvino"}
    assert all(p.passed and p.reference == "model" for p in run.results.parity)


@pytest.mark.parametrize("kind", ["torchscript", "exported_program"])
def test_torch_file_source_step_and_its_export(tmp_path, kind):
    """The steps a torch-file graph runs, in-process: the source step records the loader, the reference runs
    the file (no model class needed: TorchScript and ExportedProgram carry their code), and the export takes
    it (the dynamo exporter takes an ExportedProgram as it is); the ONNX matches the file."""
    import runtimes
    from converters import torch_file, torch_to_onnx
    from runtimes.base import Settings

    example = torch.randn(1, 3, 32, 32)
    if kind == "torchscript":
        path, opset, exporter = _torchscript(tmp_path), 17, "legacy"
    else:
        path, opset, exporter = tmp_path / "tiny.pt2", 18, "dynamo"
        torch.export.save(torch.export.export(TinyCNN().eval(), (example,)), path)
    run = StepInputs(feeds=(Feed("input", "image", [1, 3, 32, 32], "float32", "NCHW"),))
    (tmp_path / "source").mkdir()  # the step's work dir (the pipeline makes it)
    (source,) = torch_file.convert(None, SourceOptions({"path": str(path), "outputs": ["logits"]}), run,
                                   tmp_path / "source")
    assert source.meta == {"loader": kind, "origin": str(path)} and source.outputs[0].shape == [1, 10]
    assert runtimes.batch_refusal(source.seal(), 4)  # a saved file keeps the batch it was saved with
    (export,) = torch_to_onnx.convert(source, torch_to_onnx.Options(opset=opset), run, tmp_path)
    assert export.meta["exporter"] == exporter and export.meta["opset"] == opset
    batch = {"input": example.numpy()}
    reference = runtimes.load(source, Settings(threads=1))(batch)
    onnx_out = runtimes.load(export.seal(), Settings(threads=1))(batch)
    assert torch.allclose(torch.from_numpy(onnx_out[0]), torch.from_numpy(reference[0]), atol=1e-4, rtol=1e-3)


def test_a_file_that_is_not_a_torch_file_is_one_line(tmp_path):
    from converters import torch_file

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UserError, match=f"^model.path='{bad}' is not a torchscript file: "):
        torch_file.convert(None, SourceOptions({"path": str(bad)}), StepInputs(), tmp_path)


def _model_cfg(**model) -> Model:
    return Model(name="onnx", source="onnx_file", task="classification", **model)


def test_corrupt_or_missing_onnx_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf")
    with pytest.raises(UserError, match=f"^model.path='{bad}' is not a valid ONNX file: DecodeError$"):
        declared_inputs(_model_cfg(path=str(bad)))  # before anything runs: reading the inputs
    with pytest.raises(UserError, match=f"^model.path='{bad}' is not a valid ONNX file"):
        onnx_file.convert(None, SourceOptions({"path": str(bad)}), StepInputs(), tmp_path)  # and the source step itself
    with pytest.raises(UserError, match="^model.path='/no/such.onnx': no such file$"):
        check_model_file(_model_cfg(path="/no/such.onnx"))
    with pytest.raises(UserError, match=r"^model=onnx needs model.path=FILE"):
        check_model_file(_model_cfg())


@pytest.mark.xdist_group("failure_run")
def test_an_onnx_file_brings_its_own_inputs(failure_run):
    cfg = parsed("cache.enabled=false", f"model.path={failure_run.artifact('export').path}", model="onnx")
    [feed] = bind(cfg, declared_inputs(cfg.model))
    assert (feed.name, feed.shape, feed.kind, feed.size) == ("input", [1, 3, 32, 32], "image", (32, 32))
