"""The files the peers of tools/peers.py run, made as their users make them, with no options given:

- `onnx2tf -i model.onnx -o DIR` (its float32 .tflite), on a copy of the run's ONNX file, with the calibration
  sample it would download placed beside it (no network here);
- Ultralytics' own `YOLO(...).export(format="openvino")` and `format="onnx"`, of the run's own torch module (the
  same weights convgraph converted: `python -m tools.peers_make REQUEST.json`, a child: torch stays out of the
  parent; models.ultralytics.own_exports does it). An export whose requirement is missing fails; nothing is installed.

Each is made once per source file (by its sha256) under the work folder and reused by a later run there.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.artifact import Artifact

ULTRALYTICS_FORMATS = {"openvino": "openvino", "onnx": "onnx"}  # its export format -> convgraph's artifact format


def onnx2tf(onnx: Artifact, workdir: Path, env: dict, timeout: float,
            shapes: dict[str, list[int]] | None = None) -> Artifact | str:
    """onnx2tf's float32 .tflite of `onnx` as an artifact (its outputs matched onto the ONNX file's), or why not;
    with `shapes`, its inputs fixed to them (`-ois name:d0,d1,...`, what a user does when the default file keeps
    dynamic sizes its delegate cannot reshape)."""
    fixed = [f"{name}:{','.join(map(str, shape))}" for name, shape in (shapes or {}).items()]
    out = workdir / f"onnx2tf-{(onnx.sha256 or 'file')[:12]}{'-fixed' if fixed else ''}"
    made = sorted(out.glob("*_float32.tflite"))
    if not made:
        from converters.onnx_to_tf import CALIBRATION_FILE, calibration_sample

        out.mkdir(parents=True, exist_ok=True)
        shutil.copy(onnx.path, out / "model.onnx")  # onnx2tf rewrites its input: never the run's (cached) file
        # the sample onnx2tf downloads for its own checks when it is not in its working folder (offline here)
        np.save(out / CALIBRATION_FILE, calibration_sample())
        command = [str(Path(sys.executable).parent / "onnx2tf"), "-i", "model.onnx", "-o", ".",
                   *(["-ois", *fixed] if fixed else [])]
        print(f"$ (in {out}) " + " ".join(command), flush=True)
        try:
            proc = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"onnx2tf did not finish in {timeout:g} s"
        made = sorted(out.glob("*_float32.tflite"))
        if not made:
            lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
            return f"onnx2tf (exit {proc.returncode}) wrote no float32 .tflite: {(lines or ['no output'])[-1][:160]}"
    return replace(onnx, name="onnx2tf", format="tflite", path=str(made[0]), meta={}, sha256="")


def ultralytics(model: Artifact, workdir: Path, env: dict, timeout: float) -> dict[str, Artifact | str]:
    """Ultralytics' own exports of the run's torch module: {format: artifact or why not}."""
    out = workdir / f"ultralytics-{(model.sha256 or 'model')[:12]}"
    out.mkdir(parents=True, exist_ok=True)
    answer = out / "made.json"
    if not answer.is_file():
        request = out / "request.json"
        request.write_text(json.dumps({"model": model.path, "out": str(out), "answer": str(answer)}))
        try:
            proc = subprocess.run([sys.executable, "-m", "tools.peers_make", str(request)], env=env,
                                  cwd=Path(__file__).parents[1], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return dict.fromkeys(ULTRALYTICS_FORMATS, f"Ultralytics' export did not finish in {timeout:g} s")
        if not answer.is_file():
            lines = [line for line in proc.stderr.splitlines() if line.strip()]
            return dict.fromkeys(ULTRALYTICS_FORMATS, f"Ultralytics' export failed: {(lines or ['?'])[-1][:160]}")
    made = json.loads(answer.read_text())
    return {fmt: replace(model, name=f"ultralytics_{fmt}", format=ULTRALYTICS_FORMATS[fmt], path=made[fmt], meta={},
                         sha256="") if made.get(fmt) and Path(made[fmt]).exists() else made.get(f"{fmt}_error", "?")
            for fmt in ULTRALYTICS_FORMATS}


if __name__ == "__main__":
    asked = json.loads(Path(sys.argv[1]).read_text())
    import importlib

    from models import SOURCES

    # imported by name, as models.build_model does: models/ultralytics.py is the only importer of the AGPL package
    own_exports = importlib.import_module(SOURCES["ultralytics"]).own_exports
    answer = own_exports(Path(asked["model"]), Path(asked["out"]), tuple(ULTRALYTICS_FORMATS))
    Path(asked["answer"]).write_text(json.dumps(answer))
