"""Run one step in this (child) process: `python -m converters.run_step REQUEST.json`.

The pipeline starts every step this way so that a crash, a hang or a leaked native library stays in the
step's own process. The request (a StepRequest, converters/run_step_protocol.py) names the step kind, the user's
options (built here into the kind's Options), the run's StepInputs, its input artifact and a work dir; the answer
(a StepReply: artifacts, or the error) is written as JSON to the request's `result` path.
"""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

from converters import step_module, step_options
from converters.run_step_protocol import StepReply, StepRequest
from core.child_exit import exit_now
from core.child_protocol import ProtocolError
from core.errors import NotApplicable, first_line


def main(request_path: str) -> int:
    try:
        request = StepRequest.read(request_path)
    except ProtocolError as error:  # one line in the log, and the typed answer where the request says to write it
        print(f"error: {error}", file=sys.stderr)
        result = _result_path(request_path)
        if result:
            StepReply(error_type="ProtocolError", message=str(error)).write(result)
        return 2
    try:
        module = step_module(request.kind)
        artifacts = module.convert(request.input, step_options(module, request.options), request.inputs,
                                   Path(request.workdir))
        answer = StepReply(artifacts=tuple(a.seal() for a in artifacts))
    except NotApplicable as reason:
        answer = StepReply(not_applicable=str(reason))
    except Exception as error:  # every failure is reported to the pipeline, typed
        traceback.print_exc()
        # converters.failures.failure_site: where the converter broke, when its own output says
        answer = StepReply(error_type=type(error).__name__, message=first_line(error),
                           node=getattr(error, "node", None) or None, op_type=getattr(error, "op_type", None) or None)
    answer.write(Path(request.result))
    return 0


def _result_path(request_path: str) -> Path | None:
    """Where a request that does not parse asks to be answered, if it says so at all."""
    try:
        result = json.loads(Path(request_path).read_text()).get("result")
    except (OSError, ValueError, AttributeError):
        return None
    return Path(result) if isinstance(result, str) else None


if __name__ == "__main__":
    exit_now(main(sys.argv[1]))
