"""How a child process of ours ends: its answer is already on disk, so it leaves without the interpreter's
teardown. TensorFlow's teardown (module finalizers, its thread pools) adds seconds to every process that
imported it, and nothing a child leaves behind depends on it. Exit hooks (atexit) still run: they are cheap, and
one deletes the temp files TensorFlow's autograph writes.
"""
from __future__ import annotations

import atexit
import logging
import os
import sys


def exit_now(code: int | None) -> None:
    """Run the exit hooks, flush what the child printed and logged, then end the process with `code` (None: 0)."""
    # the hooks libraries registered run as at a normal exit (TensorFlow's autograph deletes the files it wrote
    # in the temp dir); only the interpreter's own teardown is skipped
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more can reach it anyway
            pass
    os._exit(code or 0)
