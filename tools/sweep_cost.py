"""What a sweep costs against one job: wall time of a cold 6-job sweep / wall time of one cold job.

    python tools/sweep_cost.py [--model resnet18] [--launcher basic|joblib]

Both start from an empty conversion cache, run in this one invocation, and use the same bench settings.
The sweep is opset=13,17 x precision=fp32,fp16,int8 on the openvino graph. Goal: ratio below 3 (the
cache converts the shared parts once; benchmarks stay serialized).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(args: list[str], cache: Path) -> float:
    env = {**os.environ, "CONVGRAPH_CACHE": str(cache)}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "convert.py", *args], cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): python convert.py {' '.join(args)}\n{proc.stderr[-2000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--launcher", default="basic", choices=["basic", "joblib"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        common = ["+graph=openvino", f"model={args.model}"]
        one = timed([*common, "opset=17", "precision=fp32", f"hydra.run.dir={tmp / 'one'}"], tmp / "cache1")
        sweep_args = ["-m", *common, "opset=13,17", "precision=fp32,fp16,int8", f"hydra.sweep.dir={tmp / 'sweep'}"]
        if args.launcher == "joblib":
            sweep_args.append("hydra/launcher=joblib")
        six = timed(sweep_args, tmp / "cache6")
    print(f"model {args.model}, launcher {args.launcher}")
    print(f"one cold job (opset 17, fp32):            {one:7.1f} s")
    print(f"cold 6-job sweep (opset 13,17 x 3 precs):  {six:7.1f} s")
    print(f"ratio sweep / one job:                     {six / one:7.2f}   (goal < 3)")


if __name__ == "__main__":
    main()
