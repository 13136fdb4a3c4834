"""Run one step in this (child) process: `python -m converters.run_step REQUEST.json`.

The pipeline starts every step this way so that a crash, a hang or a leaked native library stays in the
step's own process. The request names the step kind, the user's options (built here into the kind's Options),
the run's StepInputs, its input artifact and a work dir; the answer (artifacts, or the error) is written as JSON
to the request's `result` path.
"""
from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

from converters import step_module, step_options
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact
from core.errors import NotApplicable, first_line


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    workdir = Path(request["workdir"])
    source = Artifact.from_dict(request["input"]) if request.get("input") else None
    try:
        module = step_module(request["kind"])
        run = StepInputs.from_dict(request.get("inputs") or {})
        artifacts = module.convert(source, step_options(module, request["options"]), run, workdir)
        answer = {"artifacts": [a.seal().to_dict() for a in artifacts]}
    except NotApplicable as reason:
        answer = {"not_applicable": str(reason)}
    except Exception as error:  # every failure is reported to the pipeline, typed
        traceback.print_exc()
        answer = {"error_type": type(error).__name__, "message": first_line(error)}
        # converters.failures.failure_site: where the converter broke, when its own output says
        answer.update({key: getattr(error, key) for key in ("node", "op_type") if getattr(error, key, None)})
    Path(request["result"]).write_text(json.dumps(answer, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
