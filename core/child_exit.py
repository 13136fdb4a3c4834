"""How a child process of ours ends: its answer is already on disk, so it leaves without the interpreter's
teardown. TensorFlow's teardown (module finalizers, its thread pools) adds seconds to every process that
imported it, and nothing a child leaves behind depends on it.
"""
from __future__ import annotations

import logging
import os
import sys


def exit_now(code: int | None) -> None:
    """Flush what the child printed and logged, then end the process with `code` (None: 0)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more can reach it anyway
            pass
    os._exit(code or 0)
