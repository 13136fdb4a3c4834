"""A warm parent: a process that imports one slow library (TensorFlow, torch) once, then forks a child per order
and runs one of our child modules in it, as `python -m MODULE ARGS` would: `python -m core.warm_parent LIBRARY`.

A child forked here starts with the library already imported, in its own session and process, so a crash or
a hang stays inside it as in a cold start. The parent itself imports nothing else and runs nothing of the
library, so every child starts from the same clean state.

Protocol (one JSON object per line; pipeline/warm_start.py is the other side): the parent says
{"ready": LIBRARY} once imported; each order {"module", "argv", "log"} is answered {"pid"} when forked, then
{"pid", "code"} when the child ended (code < 0: killed by that signal). End of input ends the parent.
"""
from __future__ import annotations

import ctypes
import importlib
import json
import os
import runpy
import signal
import sys
import traceback

from core.child_exit import exit_now


def die_with_parent() -> None:
    """Linux: this process gets SIGKILL when its parent dies, even by SIGKILL (a cancelled SLURM job), so no
    orphan keeps converting into a work dir nobody will publish."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except OSError:
        pass


def main(library: str) -> int:
    orders = os.fdopen(os.dup(0), "r")
    answers = os.fdopen(os.dup(1), "w")
    # what the library prints at import goes to our stderr, never into the answers
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.dup2(2, 1)
    importlib.import_module(library)
    _answer(answers, {"ready": library})
    for line in orders:
        order = json.loads(line)
        for stream in (sys.stdout, sys.stderr):  # nothing of ours may reach a child's log
            stream.flush()
        pid = os.fork()
        if pid == 0:
            orders.close()
            answers.close()
            _start(order)
        _answer(answers, {"pid": pid})
        _, status = os.waitpid(pid, 0)
        _answer(answers, {"pid": pid, "code": os.waitstatus_to_exitcode(status)})
    return 0


def _answer(answers, message: dict) -> None:
    answers.write(json.dumps(message) + "\n")
    answers.flush()


def _start(order: dict) -> None:
    """In the forked child: its own session (a timeout kills it and whatever it started), tied to this parent,
    its output into its log; never returns."""
    try:
        os.setsid()
        die_with_parent()
        log = os.open(order["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except BaseException:
        traceback.print_exc()
        os._exit(1)
    become(order["module"], order["argv"], log)


def become(module: str, argv: list[str], output: int, cwd: str | None = None, env: dict | None = None) -> None:
    """In a forked child: be what `python -m MODULE ARGV` would be, its stdout and stderr into the file
    descriptor `output`; never returns."""
    code: int | str | None = 1
    try:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # stdin empty, as a cold child's
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        if cwd is not None:
            os.chdir(cwd)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        sys.argv = [module, *argv]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as ended:
        code = ended.code
    except BaseException:  # what an uncaught exception does to `python -m`: its traceback, exit code 1
        traceback.print_exc()
        code = 1
    if isinstance(code, str):  # sys.exit("message"): printed, exit code 1
        print(code, file=sys.stderr)
        code = 1
    exit_now(code)


if __name__ == "__main__":
    exit_now(main(sys.argv[1]))
