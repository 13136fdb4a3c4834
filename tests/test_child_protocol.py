"""The four child-process protocols (converters.run_step, runtimes.infer, bench.worker, validators.localize): each
request and reply is a typed record that survives its JSON form; a request with a missing, unknown or mistyped field
or another protocol version is one line naming it, in the child's log and, for a step, in its typed reply."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from bench.worker_protocol import BenchReply, BenchRequest
from converters.run_step_protocol import StepReply, StepRequest
from converters.step_io.step_inputs import StepInputs, TaskTarget
from core.artifact import Artifact, TensorSpec
from core.child_protocol import ProtocolError
from core.feeds import Feed
from pipeline.child import REPO_ROOT, ChildResult, child_env, run_child
from runtimes.base import Settings
from runtimes.infer_protocol import InferReply, InferRequest
from validators.localize_protocol import LocalizeReply, LocalizeRequest

ARTIFACT = Artifact("simplify", "onnx", "/runs/x/model.onnx", inputs=[TensorSpec("input", [-1, 3, 32, 32], "NCHW")],
                    meta={"opset": 17}, sha256="ab", bytes=10)
FEED = Feed("input", "image", [1, 3, 32, 32], layout="NCHW", batch_axis=0)
SETTINGS = Settings(threads=1, precision="int8", options={"openvino": {"config": {"NUM_STREAMS": 1}}},
                    shapes={"input": [1, 3, 32, 32]}, state={"out": "in"})
MESSAGES = [
    StepRequest(kind="onnx_to_openvino", options={"precision": "int8"}, workdir="/w", result="/w/result.json",
                input=ARTIFACT, inputs=StepInputs(feeds=(FEED,), dynamic_batch=True, calibration="/c.npz",
                                                  accuracy=TaskTarget({"task": "classification"}, {"top_k": 5}, 0.9))),
    StepRequest(kind="torch_model", options={}, inputs=StepInputs(), workdir="/w", result="/w/result.json"),
    StepReply(artifacts=(ARTIFACT, replace(ARTIFACT, name="extra"))),
    StepReply(error_type="StepFailed", message="mo failed", node="/conv/Conv", op_type="Conv"),
    InferRequest(artifact=ARTIFACT, settings=SETTINGS, inputs="/i.npz", outputs="/o.npz", info="/i.json", steps=4),
    InferReply(runtime="onnxruntime", version="1.20", executed_precision="fp32", layout="NCHW", layouts={},
               settings={"intra_op_threads": 1}, outputs={"logits": "logits"}),
    InferReply(error="input 'state' is fed [8, 1, 128]; model expects [2, ?, 128]"),
    BenchRequest(artifact=ARTIFACT, settings=SETTINGS, feeds=(FEED,), rows=4, processing={"task": "classification"},
                 warmup=2, runs=5, result="/r.json", images=("/a.jpg",), data="/i.npz", profile=True, onnx="/m.onnx"),
    BenchReply(runtime="openvino", artifact="openvino", batch=4, load_s=0.5, infer_ms={"median": 1.5, "n": 5},
               boxes_per_image=[3, 0], peak_rss_mb=300.0),
    LocalizeRequest(source="/m.onnx", artifact=ARTIFACT, inputs="/i.npz", atol=1e-4, rtol=1e-3, result="/l.json"),
    LocalizeReply(found=True, node="/conv/Conv", op_type="Conv", tensor="t", max_abs=0.5, compared_tensors=3),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_request_and_reply_survives_its_json_form(message, tmp_path):
    message.write(tmp_path / "m.json")
    data = json.loads((tmp_path / "m.json").read_text())  # the bytes on disk stay plain JSON, for people
    assert data["schema_version"] == type(message).VERSION
    assert type(message).read(tmp_path / "m.json") == message


REQUEST = MESSAGES[4].to_dict()


@pytest.mark.parametrize(("data", "said"), [
    ({k: v for k, v in REQUEST.items() if k != "inputs"}, "missing field 'inputs'"),
    ({**REQUEST, "stepz": 2}, "unknown field 'stepz' (known: artifact, settings, inputs, outputs, info, steps)"),
    ({**REQUEST, "steps": "2"}, "field 'steps' is \"2\", not int"),
    ({**REQUEST, "settings": {**REQUEST["settings"], "threads": True}}, "field 'settings': field 'threads' is true, "
                                                                         "not int"),
    ({**REQUEST, "artifact": {**REQUEST["artifact"], "format": "pt"}}, "field 'artifact': unknown artifact format"),
    ({**REQUEST, "schema_version": 0}, "is schema_version 0; this checkout reads 1"),
    ({k: v for k, v in REQUEST.items() if k != "schema_version"}, "has no schema_version"),
])
def test_a_request_that_does_not_fit_is_one_line_naming_the_field(data, said):
    with pytest.raises(ProtocolError) as caught:
        InferRequest.from_dict(data, "request.json")
    assert said in str(caught.value) and str(caught.value).startswith("InferRequest (request.json)")
    assert "\n" not in str(caught.value)


def test_a_child_given_a_bad_request_says_so_in_one_line(tmp_path):
    """A real child process each: runtimes.infer ends with the line; run_step also answers a typed StepReply."""
    bad = {**REQUEST, "steps": "two"}
    (tmp_path / "infer.json").write_text(json.dumps(bad))
    done = run_child_raw("runtimes.infer", tmp_path / "infer.json", tmp_path / "infer.log")
    assert done.returncode == 2
    assert done.last_line() == "error: InferRequest (" + str(tmp_path / "infer.json") + "): field 'steps' is " \
                               "\"two\", not int"

    step = {k: v for k, v in MESSAGES[1].to_dict().items() if k != "kind"}
    step["result"] = str(tmp_path / "result.json")
    (tmp_path / "step.json").write_text(json.dumps(step))
    done = run_child_raw("converters.run_step", tmp_path / "step.json", tmp_path / "step.log")
    assert done.returncode == 2 and done.last_line().endswith("missing field 'kind'")
    reply = StepReply.read(tmp_path / "result.json")
    assert reply.error_type == "ProtocolError" and reply.message.endswith("missing field 'kind'")


def test_run_child_takes_only_a_request(tmp_path):
    with pytest.raises(TypeError, match="InferReply is no child's request"):
        run_child(InferReply(), tmp_path / "r.json", tmp_path / "log", 10)


def run_child_raw(module: str, request, log):
    """A child started on a request file as it is on disk (run_child writes only well-formed ones)."""
    with open(log, "wb") as out:
        proc = subprocess.run([sys.executable, "-m", module, str(request)], cwd=REPO_ROOT, env=child_env(),
                              stdout=out, stderr=subprocess.STDOUT, timeout=120, check=False)
    return ChildResult(proc.returncode, 0.0, log)


def test_a_step_reply_says_why_it_made_nothing():
    assert MESSAGES[2].failure == "" and StepReply(not_applicable="fp32 only").failure == ""
    assert MESSAGES[3].failure == "mo failed"
    assert StepReply(error_type="StepFailed", message="").failure == "StepFailed"  # an error with no text
    assert StepReply().failure == "made no artifact"  # a convert that returned [] is no success


def test_a_child_that_skips_teardown_still_leaves_its_output_and_code(tmp_path):
    """core.child_exit.exit_now ends a child without the interpreter's teardown: what it printed and logged (both
    buffered, into a file as run_child gives them) is there, with the exit code it gave, and its exit hooks ran."""
    code = ("import atexit, logging, sys\n"
            "from core.child_exit import exit_now\n"
            f"atexit.register(lambda: open({str(tmp_path / 'hook.txt')!r}, 'w').write('ran'))\n"
            f"logging.basicConfig(filename={str(tmp_path / 'child.log')!r}, level=logging.INFO)\n"
            "logging.info('logged before the exit')\n"
            "print('printed before the exit')\n"
            "print('to stderr', file=sys.stderr)\n"
            "exit_now(3)\n")
    env = {k: v for k, v in child_env().items() if k != "PYTHONUNBUFFERED"}  # buffered, as a child's output may be
    with open(tmp_path / "out.txt", "wb") as out:
        done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT)
    assert done.returncode == 3
    assert sorted((tmp_path / "out.txt").read_text().splitlines()) == ["printed before the exit", "to stderr"]
    assert "logged before the exit" in (tmp_path / "child.log").read_text()
    assert (tmp_path / "hook.txt").read_text() == "ran"  # exit hooks run: TensorFlow's autograph cleans /tmp in one
