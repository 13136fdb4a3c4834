"""Start a module of ours in a child process with its typed request (core/child_protocol.py), written as JSON;
its output goes to a log file.

Every step, every parity run and every benchmark goes through here: a segfault, a hang past the timeout
or a native library that must not meet another (TF and torch) stays inside the child.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from core.child_protocol import Message
from core.warm_parent import die_with_parent
from pipeline.warm_start import WarmParentGone, refuse, warm_parent

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ChildResult:
    returncode: int | None  # None when it was killed for exceeding its timeout
    seconds: float
    log: Path

    def last_line(self) -> str:
        """The last non-empty line of the child's log: usually the exception that ended it."""
        try:
            lines = [line.strip() for line in self.log.read_text(errors="replace").splitlines() if line.strip()]
        except FileNotFoundError:
            return ""
        return lines[-1][:300] if lines else ""

    @property
    def failure(self) -> str:
        """Why the child did not finish normally, or '' when it did."""
        if self.returncode is None:
            return "timed out"
        if self.returncode < 0:
            return f"crashed ({signal.Signals(-self.returncode).name})"
        if self.returncode != 0:
            return f"exited with code {self.returncode}"
        return ""


def child_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    # onnx2tf calls the `onnxsim` CLI by name: the interpreter's own bin dir must come first on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def run_child(request: Message, request_path: Path, log: Path, timeout: float) -> ChildResult:
    """Run `python -m {request.CHILD} request_path` (the request written there as JSON), its output into `log`:
    forked from a warm parent when the child will import a slow library (pipeline/warm_start.py), else started
    cold."""
    module = request.CHILD
    if not module:
        raise TypeError(f"{type(request).__name__} is no child's request (it names no CHILD)")
    request.write(request_path)
    start = time.perf_counter()
    env = child_env()
    library = request.slow_import()
    parent = warm_parent(library, env, REPO_ROOT) if library else None
    if parent is not None:
        try:
            with parent.lock:
                returncode = parent.run(module, [str(request_path)], log, timeout)
            return ChildResult(returncode, time.perf_counter() - start, log)
        except WarmParentGone:
            refuse(library)
    with open(log, "ab") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", module, str(request_path)], cwd=REPO_ROOT,
                                env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=die_with_parent)
        try:
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group: onnx2tf starts children of its own
            proc.wait()
            returncode = None
        except BaseException:  # Ctrl-C: do not leave the child running
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    return ChildResult(returncode, time.perf_counter() - start, log)

