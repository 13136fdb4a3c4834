"""onnxsim's own command line, run several times in one process: the simplification onnx2tf runs before it
converts (`onnxsim in out [args]` three times, each a new process whose import of onnxsim also imports torch),
paid for once. Same arguments, same defaults, same files as those three calls; in a process of its own, since
onnxsim's native code can crash.

    python -m converters.step_io.onnxsim_passes PASSES INPUT OUTPUT [onnxsim arguments...]
"""
from __future__ import annotations

import sys

from converters.step_io.onnxsim_import import import_onnxsim
from core.child_exit import exit_now


def main(argv: list[str]) -> int:
    onnxsim_main = import_onnxsim().main
    passes, model, output, *extra = argv
    for n in range(int(passes)):
        sys.argv = ["onnxsim", model if n == 0 else output, output, *extra]
        try:
            code = onnxsim_main()
        except SystemExit as stop:
            code = stop.code
        if code:
            return code if isinstance(code, int) else 1
    return 0


if __name__ == "__main__":
    exit_now(main(sys.argv[1:]))
