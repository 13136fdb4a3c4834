"""The results.json schema (pipeline.results): a real run's file loads and round-trips; a version-1 file (no
schema_version, keys this schema does not know) still loads; writing a record with an unknown field fails;
a job that failed outside the pipeline still leaves a results.json saying why."""
import json

import pytest
from pydantic import ValidationError

from pipeline.results import SCHEMA_VERSION, BenchRow, RunResults, StepRecord, load_results, record_failure

pytestmark = pytest.mark.xdist_group("all_run")


def test_a_real_run_loads_and_round_trips(all_run, tmp_path):
    results = load_results(all_run.dir / "results.json")
    assert results.schema_version == SCHEMA_VERSION == all_run.data["schema_version"]
    assert results == load_results(all_run.dir)  # the run dir or its results.json
    assert len(results.artifacts) == 9 and len(results.bench) == 8 and len(results.parity) == 8
    written = results.save(tmp_path)
    again = load_results(written)
    assert again == results
    assert again.to_json() == results.to_json()
    # and nothing the run wrote was lost on the way in: the file is what the schema writes
    assert json.loads(written.read_text()) == all_run.data


def test_the_lookups_readers_use(all_run):
    results = all_run.results
    assert results.artifact("openvino").format == "openvino" and results.artifact("nope") is None
    assert results.parity_of("model") is None and results.parity_of("tf").passed
    assert {b.artifact for b in results.ok_bench()} == {b.artifact for b in results.bench}
    torch_ms = next(b.infer_ms.median for b in results.bench if b.runtime == "torch")
    assert results.reference_ms() == torch_ms and results.speedup(results.bench[0]) == pytest.approx(1.0)
    assert results.footprint_of(results.bench[0]).installed_mb == results.footprint["torch"].installed_mb
    assert results.has_task() and results.parity_of("simplify").agreement == 1.0


def test_a_version_1_file_still_loads(all_run, tmp_path):
    data = json.loads(json.dumps(all_run.data))
    del data["schema_version"], data["processing"]  # version 1 had neither
    data["written_by"] = "convgraph 0.0.9"  # a key no version of this schema knows ...
    data["bench"][0]["gpu_ms"] = 1.0  # ... at any level
    data["steps"][0]["host"] = "elsewhere"
    (tmp_path / "results.json").write_text(json.dumps(data))
    old = load_results(tmp_path)
    assert old.schema_version == 1 and old.processing is None
    assert old.bench == all_run.results.bench and old.steps == all_run.results.steps
    assert "written_by" not in old.model_dump() and "gpu_ms" not in old.bench[0].model_dump()


def test_writing_a_record_with_an_unknown_field_fails(all_run):
    with pytest.raises(ValidationError, match="bogus"):
        StepRecord(name="x", kind="torch_to_onnx", input="model", status="ok", bogus=1)
    with pytest.raises(ValidationError, match="gpu_ms"):
        BenchRow(artifact="simplify", gpu_ms=1.0)
    with pytest.raises(ValidationError, match="status"):
        StepRecord(name="x", kind="torch_to_onnx", input="model", status="done")  # not a step status
    data = {**all_run.data, "written_by": "me"}
    with pytest.raises(ValidationError, match="written_by"):
        RunResults.model_validate(data)  # only reading a file (load_results) is lenient


def test_record_failure_keeps_what_the_run_recorded(all_run, tmp_path):
    record_failure(tmp_path / "fresh", "openvino", "tiny_cnn", "UserError: precision='int3' is not allowed")
    fresh = load_results(tmp_path / "fresh")
    assert (fresh.status, fresh.graph, fresh.model) == ("failed", "openvino", "tiny_cnn")
    assert fresh.error.startswith("UserError: precision='int3'") and fresh.bench == []
    all_run.results.save(tmp_path / "copy")
    record_failure(tmp_path / "copy", "?", "?", "KeyboardInterrupt")
    kept = load_results(tmp_path / "copy")
    assert kept.status == "failed" and kept.error == "KeyboardInterrupt"
    assert kept.bench == all_run.results.bench and kept.graph == "all"
