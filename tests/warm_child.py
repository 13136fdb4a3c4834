"""A child module for tests/test_warm_start.py: `python -m tests.warm_child WHAT [ARG]` does WHAT."""
import json
import os
import signal
import subprocess
import sys
import time

if __name__ == "__main__":
    what = sys.argv[1]
    if what == "facts":  # what a child can see of how it was started, into the file ARG
        facts = {"argv": sys.argv, "cwd": os.getcwd(), "path0": sys.path[0], "name": __name__,
                 "own_session": os.getsid(0) == os.getpid(), "stdin": os.read(0, 10).decode(),
                 "env": os.environ.get("WARM_CHILD_MARK"), "tensorflow": "tensorflow" in sys.modules}
        with open(sys.argv[2], "w") as out:
            json.dump(facts, out)
        print("to stdout", flush=True)
        print("to stderr", file=sys.stderr, flush=True)
    elif what == "exit":
        sys.exit(int(sys.argv[2]))
    elif what == "message":
        sys.exit("a message instead of a code")
    elif what == "raise":
        raise ValueError("raised in the child")
    elif what == "signal":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif what == "hang":  # a grandchild too, in the same group: a timeout must take both
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        with open(sys.argv[2], "w") as out:
            out.write(str(grandchild.pid))
        time.sleep(600)
