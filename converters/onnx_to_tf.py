"""ONNX -> TensorFlow SavedModel with onnx2tf (its CLI, in a subprocess, run in this step's work dir).

onnx2tf turns NCHW into NHWC; the artifact keeps the ONNX (canonical) input/output names and shapes and the
runtime adapter maps the SavedModel's own tensors onto them. Four onnx2tf habits shape this module:
- it rewrites its input ONNX in place (it runs the onnxsim CLI on it), so it gets a private copy;
- it downloads a calibration sample unless that file is in its cwd, so we write it from local images;
- it logs some failures and still exits 0, so the SavedModel is checked for, not assumed;
- it says where it failed (`onnx_op_name: NAME` in its error report): the step's error names that node and op.
The step runs onnx2tf's own simplification itself (the onnxsim CLI's three passes, at the bound shapes, in one
process: as three CLI calls each imported torch again) and tells onnx2tf not to simplify again (-nuo); unless the
user's onnx2tf arguments change that simplification, then onnx2tf runs it as they say. With `repairs`
(converters/failures/onnx_repairs.py) the repairs come after those passes: onnxsim unsets all-zero RNN initial
states, which would undo `lstm_initial_state`.
onnx2tf also writes TFLite files; they are deleted here: the tf_to_tflite step makes them from this
SavedModel, as their own artifacts and steps.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Literal

import numpy as np

from converters.failures.failure_site import ConversionFailed, locate, op_domain
from converters.failures.onnx_repairs import AUTOMATIC, apply, check_names
from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact, TensorSpec
from core.errors import StepFailed
from core.warm_parent import become

# their versions are part of this step's cache key (onnx2tf drives onnxsim and onnx-graphsurgeon itself)
PACKAGES = ("onnx2tf", "tensorflow", "tf-keras", "onnx", "onnxsim", "onnx-graphsurgeon", "sng4onnx")
CODE = ("converters.failures.onnx_repairs", "converters.step_io.onnxsim_passes")  # its output depends on them too

CALIBRATION_FILE = "calibration_image_sample_data_20x128x128x3_float32.npy"
# onnx2tf arguments that change its own simplification: given one, the user's word on it stands
SIMPLIFICATION_ARGS = {"-nuo", "--not_use_onnxsim", "-nlt", "--no_large_tensor", "-ois", "--overwrite_input_shape"}


@dataclass(frozen=True)
class Options:
    """graph.steps.<name> options and their defaults (conf/step/onnx_to_tf.yaml overrides them); checked with the
    config before anything runs."""

    verbosity: Literal["debug", "info", "warn", "error"] = "warn"  # onnx2tf -v
    # ops onnx2tf replaces by builtin-only subgraphs (-rtpo) when the model has them: as TF ops they would become
    # "Flex" ops in TFLite, which ai-edge-litert cannot run (a BERT's GELU is an Erf)
    pseudo_ops: list = field(default_factory=lambda: ["Erf", "GeLU"])
    # extra onnx2tf CLI arguments, verbatim: onnx2tf is the judge of them (a rejected one fails the step with
    # onnx2tf's own error line)
    args: list = field(default_factory=list)
    # known graph-level remedies for onnx2tf bugs, applied to its private ONNX copy
    # (converters/failures/onnx_repairs.py); what each changed is in the artifact's meta. lstm_initial_state: an
    # explicit zero initial state for LSTM/GRU/RNN, which onnx2tf needs
    repairs: list = field(default_factory=list)

    def __post_init__(self):
        check_names(self.repairs)

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ABSL_LOG = re.compile(r"^([IWEF]\d{4} |WARNING: All log messages before absl)")
# onnx2tf's own report of where it failed: the node whose converter raised, or an op it has no converter for
SITE_LINE = re.compile(r"ERROR: onnx_op_name: |OP is not yet implemented")


def convert(source: Artifact, options: Options, run: StepInputs, workdir: Path) -> list[Artifact]:
    shutil.copy(source.path, workdir / "model.onnx")  # onnx2tf rewrites its input: never hand it the upstream file
    np.save(workdir / CALIBRATION_FILE, calibration_sample())
    fixed, inputs = bound_inputs(source, run)
    env = dict(os.environ)
    # onnx2tf calls the `onnxsim` CLI by name and silently skips that pass when it is not on PATH.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    repairs = list(options.repairs)
    simplify_here = bool(repairs) or not SIMPLIFICATION_ARGS.intersection(map(str, options.args))
    if simplify_here:
        _simplify(workdir, fixed, env, must_pass=bool(repairs))
        repairs = [*[r for r in AUTOMATIC if r not in repairs], *repairs]
    repaired = _repair(workdir, repairs, fixed) if repairs else []
    args = ["-i", "model.onnx", "-o", "saved_model", "-v", options.verbosity,
            *shape_args(source, options.pseudo_ops, fixed), *(["-nuo"] if simplify_here else []),
            *[str(a) for a in options.args]]
    print("$ onnx2tf " + shlex.join(args), flush=True)
    start = time.perf_counter()
    returncode, tail, report = _run_logged(args, workdir, env)
    seconds = time.perf_counter() - start
    if returncode != 0:
        # onnx2tf has given its private copy the node names it reports (it names unnamed nodes), but dropped
        # the ops' domains: those are the source's
        site = locate("\n".join(report), str(workdir / "model.onnx")) if report else None
        if site:
            site = replace(site, domain=site.domain or op_domain(source.path, site.op_type))
            raise ConversionFailed("onnx2tf", _error_line(tail), site)
        raise StepFailed(f"onnx2tf exited with code {returncode}: {_error_line(tail)}")
    saved_model = workdir / "saved_model"
    if not (saved_model / "saved_model.pb").is_file():
        raise StepFailed("onnx2tf exited 0 but wrote no saved_model.pb (it logs some failures and carries on): "
                         f"{_error_line(tail)}")
    for leftover in [workdir / "model.onnx", workdir / CALIBRATION_FILE, *saved_model.glob("*.tflite")]:
        leftover.unlink()
    return [Artifact(name="", format="tf_savedmodel", path=str(saved_model), precision="fp32",
                     inputs=inputs, outputs=source.outputs,
                     meta={"onnx2tf": metadata.version("onnx2tf"), "tensorflow": metadata.version("tensorflow"),
                           "command": "onnx2tf " + shlex.join(args), "onnx2tf_seconds": round(seconds, 2),
                           "opset": source.meta.get("opset"),
                           **({"repairs": repaired} if repaired or options.repairs else {})})]


def _simplify(workdir: Path, fixed: dict[str, list[int]], env: dict, must_pass: bool) -> None:
    """onnx2tf's own simplification: the onnxsim CLI three times at the bound shapes (in one process). When it
    fails onnx2tf warns and converts the file as it is; so does this, unless repairs must follow it."""
    shapes = ["--overwrite-input-shape", *[f"{n}:{','.join(map(str, s))}" for n, s in fixed.items()]] if fixed else []
    print("$ onnxsim model.onnx model.onnx " + shlex.join(shapes) + " (three passes, one process)", flush=True)
    # a module of ours: the step's own child environment (pipeline.child) has the repository on PYTHONPATH
    done = subprocess.run([sys.executable, "-m", "converters.step_io.onnxsim_passes", "3", "model.onnx",
                           "model.onnx", *shapes], cwd=workdir, env=env, capture_output=True, text=True)
    if done.returncode == 0:
        return
    why = _error_line((done.stdout + done.stderr).splitlines())
    if must_pass:
        raise StepFailed(f"onnxsim (before the repairs) failed: {why}")
    print(f"onnxsim before onnx2tf failed ({why}): onnx2tf converts the file unsimplified", flush=True)


def _repair(workdir: Path, repairs: list[str], fixed: dict[str, list[int]]) -> list[dict]:
    changes = apply(workdir / "model.onnx", repairs, fixed)
    for change in changes:
        print(f"repair {change['repair']}: node {change['node']!r} ({change['op_type']}) gets zeros "
              f"{change['zeros']} as {', '.join(change['added'])}", flush=True)
    if not changes:
        print(f"repairs {', '.join(repairs)}: nothing to repair", flush=True)
    return changes


def bound_inputs(source: Artifact, run: StepInputs) -> tuple[dict[str, list[int]], list[TensorSpec]]:
    """The inputs whose dynamic dimensions onnx2tf is told (its -ois; a dynamic batch the run keeps stays dynamic,
    unless other dimensions are dynamic too), and the SavedModel's inputs as the reference sees them."""
    keep_batch = run.dynamic_batch
    feeds = {f.name: f for f in run.feeds}
    fixed, inputs = {}, []
    for spec in source.inputs:
        dynamic = [axis for axis, d in enumerate(spec.shape) if d < 0]
        feed = feeds.get(spec.name)
        if dynamic and feed and (dynamic != [feed.batch_axis] or not keep_batch):
            fixed[spec.name] = list(feed.shape)
        inputs.append(replace(spec, shape=fixed.get(spec.name, spec.shape)))
    return fixed, inputs


def shape_args(source: Artifact, pseudo_ops: list[str], fixed: dict[str, list[int]]) -> list[str]:
    """-ois for the bound shapes, -k for inputs that are not images (only images go channels-last), -rtpo for the
    ops to replace that the model has."""
    args = []
    if fixed:
        args += ["-ois", *[f"{name}:{','.join(map(str, shape))}" for name, shape in fixed.items()]]
    keep = [s.name for s in source.inputs if len(s.shape) >= 3 and not s.is_image()]
    if keep:
        args += ["-k", *keep]
    present = ops_in(source.path) & set(pseudo_ops)
    if present:
        args += ["-rtpo", *sorted(present)]
    return args


def ops_in(path: str) -> set[str]:
    return set(op_types(path).values())


def calibration_sample(count: int = 20, side: int = 128) -> np.ndarray:
    """count x side x side x 3 float32 RGB in [0, 1] from packaged photos (square crops at a few offsets),
    in place of the file onnx2tf would otherwise download for its own checks."""
    from PIL import Image

    from core.images import load_rgb, packaged_image_paths

    images = [load_rgb(p) for p in packaged_image_paths()]
    # passes over the photos: (where along the long side, share of the short side, mirrored), so that
    # every sample differs, square photos included
    passes = [(0.5, 1.0, False), (0.0, 1.0, True), (1.0, 0.8, False)]
    crops = []
    for i in range(count):
        image = images[i % len(images)]
        where, zoom, mirror = passes[(i // len(images)) % len(passes)]
        height, width = image.shape[:2]
        short = int(min(height, width) * zoom)
        top, left = int((height - short) * where), int((width - short) * where)
        crop = np.asarray(Image.fromarray(image[top : top + short, left : left + short]).resize(
            (side, side), Image.BILINEAR), np.float32) / 255
        crops.append(crop[:, ::-1] if mirror else crop)
    return np.stack(crops)


def _run_logged(args: list[str], cwd: Path, env: dict) -> tuple[int, list[str], list[str]]:
    """`python -m onnx2tf ARGS` in a process of its own, streaming its output into this step's log as it comes
    (a step killed at its timeout still leaves it there); returns the exit code, the output's last lines and
    onnx2tf's lines saying where it failed. In a step started warm (TensorFlow imported: pipeline/warm_start.py)
    that process is a fork of this one, spared the import."""
    tail: deque[str] = deque(maxlen=200)
    report: list[str] = []
    proc, output = _start_onnx2tf(args, cwd, env)
    with output:
        for line in output:
            sys.stdout.write(line)
            sys.stdout.flush()
            tail.append(line)
            if SITE_LINE.search(ANSI.sub("", line)):
                report.append(ANSI.sub("", line).strip())
    return proc.wait(), list(tail), report


class _Forked:
    def __init__(self, pid: int):
        self.pid = pid

    def wait(self) -> int:
        return os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])


def _start_onnx2tf(args: list[str], cwd: Path, env: dict):
    """The onnx2tf process and its output (stdout and stderr, as text)."""
    if "tensorflow" not in sys.modules or not sys.platform.startswith("linux"):
        proc = subprocess.Popen([sys.executable, "-m", "onnx2tf", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        return proc, proc.stdout
    read, write = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        become("onnx2tf", args, write, str(cwd), env)
    os.close(write)
    return _Forked(pid), os.fdopen(read, errors="replace")


MISSING_OP = re.compile(r"No module named 'onnx2tf\.ops\.(\w+)'|(\w+) OP is not yet implemented")


def _error_line(output: list[str]) -> str:
    """onnx2tf's reason in one line (the node it failed at is found by converters.failures.failure_site)."""
    lines = [ANSI.sub("", line).strip() for line in output]
    lines = [line for line in lines if line and not ABSL_LOG.match(line)]  # TF's own start-up chatter
    missing = next((m for m in map(MISSING_OP.search, reversed(lines)) if m), None)
    if missing:  # onnx2tf imports a module per op type: a ModuleNotFoundError says it has none for this op
        return f"onnx2tf {metadata.version('onnx2tf')} has no converter for {missing.group(1) or missing.group(2)}"
    errors = [line for line in lines if "error" in line.lower()]
    line = (errors or lines or ["no output"])[-1]
    return re.sub(r"^\S+\.py: ", "", line)[:500]  # argparse names the program __main__.py


def op_types(path: str) -> dict[str, str]:
    """Node name -> op type of an ONNX file."""
    import onnx

    return {node.name: node.op_type for node in onnx.load(path, load_external_data=False).graph.node}
