"""Children started from a warm parent (core/warm_parent.py): one process per slow library, started at the first
child that needs it and kept while this process lives, forks each child with the library already imported.

Importing TensorFlow takes ~5 s here and a run starts it in four or five children (the TFLite steps, the
SavedModel's parity and benchmark), torch ~1.5 s in as many; forked, a child starts in a fraction of a second.
A child forked from a warm parent is still its own process in its own session, so a crash or a hang stays in it.
Whatever goes wrong with the warm parent itself (it cannot import the library, it dies) sends the child to a
cold start instead, never to a failure. CONVGRAPH_COLD_CHILDREN=1 turns warm starts off.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from core.warm_parent import die_with_parent

log = logging.getLogger("convgraph")
READY_TIMEOUT_S = 300.0  # importing the library, on a loaded machine
FORK_TIMEOUT_S = 60.0


class WarmParentGone(RuntimeError):
    """The warm parent did not answer: the caller starts this child cold."""


class WarmParent:
    def __init__(self, library: str, env: dict, cwd: Path):
        self.library, self.env = library, env
        self.lock = threading.Lock()
        self._pending = b""
        self.proc = subprocess.Popen([sys.executable, "-m", "core.warm_parent", library], cwd=cwd, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=die_with_parent)
        try:
            if self._message(READY_TIMEOUT_S).get("ready") != library:
                raise WarmParentGone(f"the warm parent of {library} did not say it was ready")
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise

    def run(self, module: str, argv: list[str], log: Path, timeout: float) -> int | None:
        """Fork `python -m module argv` (its output into log); its exit code, None when killed at the timeout."""
        order = {"module": module, "argv": argv, "log": str(log)}
        try:
            self.proc.stdin.write((json.dumps(order) + "\n").encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError) as gone:
            raise WarmParentGone(f"the warm parent of {self.library} is gone") from gone
        try:
            pid = self._message(FORK_TIMEOUT_S)["pid"]
        except TimeoutError as late:
            raise WarmParentGone(f"the warm parent of {self.library} did not fork in time") from late
        try:
            ended = self._message(timeout)
        except TimeoutError:
            _kill_group(pid)
            try:
                self._message(FORK_TIMEOUT_S)  # its exit code: the protocol stays in step for the next child
            except (TimeoutError, WarmParentGone):
                refuse(self.library)
            return None
        except WarmParentGone:  # the parent died, and its child with it (it dies with its parent)
            refuse(self.library)
            return -signal.SIGKILL
        except BaseException:  # Ctrl-C: do not leave the child running (nor a parent whose answer is unread)
            _kill_group(pid)
            refuse(self.library)
            raise
        return ended["code"]

    def close(self) -> None:
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def _message(self, timeout: float) -> dict:
        """The parent's next line; TimeoutError when none came in time, WarmParentGone when it ended."""
        deadline = time.monotonic() + timeout
        out = self.proc.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            if select.select([out], [], [], left)[0]:
                chunk = os.read(out, 65536)
                if not chunk:
                    raise WarmParentGone(f"the warm parent of {self.library} ended")
                self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return json.loads(line)


def _kill_group(pid: int | None) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)  # the whole group: a child may start children of its own
    except (ProcessLookupError, TypeError):
        pass


_parents: dict[str, WarmParent] = {}
_refused: set[str] = set()  # libraries whose warm parent failed once: cold starts from then on


def warm_parent(library: str, env: dict, cwd: Path) -> WarmParent | None:
    """This process's warm parent of `library` (started now if needed), or None: start the child cold."""
    # Linux only: macOS forbids much of what a library may have set up before a fork (Objective-C, Accelerate)
    if _cold_children() or library in _refused or not sys.platform.startswith("linux"):
        return None
    parent = _parents.get(library)
    if parent is not None and (parent.env != env or parent.proc.poll() is not None):
        parent.close()  # the environment changed since it imported the library: what it read may differ now
        parent = None
    if parent is None:
        try:
            parent = _parents[library] = WarmParent(library, env, cwd)
        except (WarmParentGone, TimeoutError, OSError):
            _refused.add(library)
            _parents.pop(library, None)
            return None
    return parent


SWITCH_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False, "": False}
_warned: set[str] = set()


def _cold_children() -> bool:
    """CONVGRAPH_COLD_CHILDREN: 1/true/yes starts every child cold; a value it does not know is said once, in
    one line, and taken as 1 (cold starts are the safe side)."""
    value = os.environ.get("CONVGRAPH_COLD_CHILDREN", "").strip().lower()
    if value in SWITCH_VALUES:
        return SWITCH_VALUES[value]
    if value not in _warned:
        _warned.add(value)
        log.warning("CONVGRAPH_COLD_CHILDREN=%s is not allowed; give 1, true or yes (every child starts cold) or "
                    "0, false or no: starting children cold", os.environ["CONVGRAPH_COLD_CHILDREN"])
    return True


def refuse(library: str) -> None:
    """Its warm parent failed: start this library's children cold from now on."""
    _refused.add(library)
    parent = _parents.pop(library, None)
    if parent is not None:
        parent.proc.kill()  # its children die with it
        parent.proc.wait()


@atexit.register
def _close_all() -> None:
    for parent in _parents.values():
        parent.close()
