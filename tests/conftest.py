"""Shared test helpers: run convert.py as a user would (a subprocess) and read what it wrote; the few shared
end-to-end runs that many tests only read; and the order in which pytest-xdist hands work to its workers.

Shared runs are session fixtures. Under pytest-xdist every worker has its own session, so the tests that read
one shared run carry the same `xdist_group` mark (`--dist loadgroup` keeps a group on one worker) and the
fixture also takes a file lock over the session's shared folder: a run is made once per test session however
the tests are distributed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from converters.step_io.step_inputs import StepInputs
from core.artifact import Artifact
from core.feeds import feed_of
from pipeline.config import CONF_DIR  # importing pipeline.config registers the configs' resolvers
from pipeline.results import RunResults, load_results
from runtimes.base import Settings
from runtimes.infer_protocol import InferReply, InferRequest
from validators.parity import ParityReport, compare

REPO = Path(__file__).resolve().parent.parent
# pytest-xdist runs one worker per core and every worker starts convert.py and its children: a library that
# starts a thread per core by itself (OpenMP: torch's export, BatchNorm calibration, the test's own torch)
# then waits for threads whose core the other worker holds, at times 10x slower. One OpenMP thread per
# process; a runtime is still given bench.threads (all cores) explicitly by its Runner.
os.environ.setdefault("OMP_NUM_THREADS", "1")
FAST = ["model=tiny_cnn", "bench.warmup=1", "bench.runs=3"]

# The shared runs. Each serves several test modules; the tests that read it carry its xdist group.
# ALL: every runtime side by side at int8 (so the int8 steps exist), throughput at batch 2, a selection
# limited to the fp32 ONNX Runtime artifact (a deterministic pick whose bundle is small). Without the litert
# road (its own tests: test_torch_to_litert.py), so what the run holds does not depend on its optional extra.
ALL_RUN = ["+graph=all", *FAST, "precision=int8", "bench.batch=[1,2]", "+select=latency",
           "select.runtimes=[onnxruntime]", "select.precisions=[fp32]", "~graph.steps.litert"]
# FAILURE: one run whose branches fail in every way a branch can (onnx2tf rejects an argument, a step dies of
# SIGABRT, one hangs past its timeout, one consumes the crashed step), while the OpenVINO branch converts and
# is measured; the export keeps a fixed batch, so images/s at batch 4 is skipped for every exported artifact,
# and two runtime settings are changed from their defaults.
FAILURE_RUN = ["+graph=all", *FAST, "~graph.steps.litert", "graph.steps.tf.args=[--no-such-flag]",
               "bench.batch=[4]", "graph.steps.export.dynamic_batch=false",
               "bench.runtime.onnxruntime.graph_optimization_level=basic",
               "+bench.runtime.openvino.config.NUM_STREAMS=1",
               "+graph.steps.crash.kind=tests.steps.abort", "+graph.steps.crash.input=simplify",
               "+graph.steps.stuck.kind=tests.steps.hang", "+graph.steps.stuck.input=export",
               "+graph.steps.stuck.timeout_s=3",
               "+graph.steps.after_crash.kind=onnx_to_openvino", "+graph.steps.after_crash.input=crash"]
# HEAD: the reshape/transpose/concat head through the TF adapters, with the cache off (artifacts in the run dir);
# onnx2tf takes the export itself (it simplifies its input on its own).
HEAD_RUN = ["+graph=tflite", "model=tiny_head", "bench.enabled=false", "cache.enabled=false",
            "~graph.steps.simplify", "graph.steps.tf.input=export", "~graph.steps.tflite_fp16"]


@dataclass
class Run:
    """What one convert.py process left: its exit code and output, and the run (or sweep) directory."""

    dir: Path
    returncode: int
    stdout: str
    stderr: str
    overrides: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @cached_property
    def results(self) -> RunResults:
        """results.json through the schema, as every reader of it does."""
        return load_results(self.dir)

    @cached_property
    def data(self) -> dict:
        """results.json as plain JSON."""
        return json.loads((self.dir / "results.json").read_text())

    def artifact(self, name: str):
        found = self.results.artifact(name)
        assert found is not None, f"no artifact {name!r} in {self.dir}"
        return found

    def parity(self, name: str):
        found = self.results.parity_of(name)
        assert found is not None, f"no parity entry for {name!r} in {self.dir}"
        return found

    def bench(self, name: str):
        return next(b for b in self.results.bench if b.artifact == name)

    def steps(self) -> dict:
        return {s.name: s for s in self.results.steps}

    def statuses(self) -> dict[str, str]:
        return {s.name: s.status for s in self.results.steps}

    def tail(self, n: int = 3000) -> str:
        return self.output[-n:]

    def recorded_outputs(self, name: str) -> list[np.ndarray]:
        """What the run's parity check computed for an artifact (parity/NAME.npz): [N, *output shape]."""
        with np.load(self.dir / "parity" / f"{name}.npz") as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]

    def feeds(self) -> list[dict]:
        """The model's inputs as the run fed them (what the pipeline gives every step in StepInputs.feeds)."""
        return [asdict(feed_of(t)) for t in self.results.inputs.tensors]

    def step_inputs(self, **given) -> StepInputs:
        """What the pipeline tells a step of this run: its inputs as fed (and whatever `given` adds)."""
        return StepInputs(feeds=tuple(feed_of(t) for t in self.results.inputs.tensors), **given)

    def tolerance(self, precision: str) -> dict:
        return self.data["config"]["validate"]["tolerances"][precision]

    def check(self, artifact: Artifact, outputs: list[np.ndarray]) -> ParityReport:
        """`outputs` against the run's reference (the model's), at the tolerance of the artifact's precision."""
        reference = self.artifact("model")
        return compare(artifact.name, "model", artifact.precision, self.recorded_outputs("model"), outputs,
                       [o.name for o in reference.outputs], self.tolerance(artifact.precision))


def infer(artifact: Artifact, inputs: Path, work: Path, child: bool = False, **settings) -> tuple[list, InferReply]:
    """(outputs, runtime facts) of an artifact on an inputs.npz: runtimes.infer, what the parity check runs in a
    child process, here in this process (child=False) or, for TensorFlow (never next to torch), in a child."""
    from runtimes import infer as infer_module

    work.mkdir(parents=True, exist_ok=True)
    request = InferRequest(artifact=artifact, settings=Settings(**{"threads": 1, "precision": artifact.precision,
                                                                   **settings}),
                           inputs=str(inputs), outputs=str(work / "out.npz"), info=str(work / "info.json"))
    if child:
        from pipeline.child import run_child

        done = run_child(request, work / "request.json", work / "infer.log", 600)
        assert not done.failure, (work / "infer.log").read_text()[-3000:]
    else:
        request.write(work / "request.json")
        assert infer_module.main(str(work / "request.json")) == 0
    with np.load(work / "out.npz") as data:
        outputs = [data[f"arr_{i}"] for i in range(len(data.files))]
    return outputs, InferReply.read(work / "info.json")


def composed(*overrides: str, graph: str = "openvino", model: str = "tiny_cnn") -> dict:
    """The resolved config of `python convert.py +graph=GRAPH model=MODEL OVERRIDES...` as a plain dict, composed
    in-process by Hydra's compose API."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=[f"+graph={graph}", f"model={model}", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


def parsed(*overrides: str, graph: str = "openvino", model: str = "tiny_cnn"):
    """The checked Config (pipeline.schema) of the same command line, as a run reads it."""
    from pipeline.config import validate

    return validate(composed(*overrides, graph=graph, model=model))


def cli_env(cache: Path | None = None, **extra: str) -> dict:
    env = {**os.environ, "HYDRA_FULL_ERROR": "0", **extra}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if cache is not None:
        env["CONVGRAPH_CACHE"] = str(cache)
    return env


def run_convert(*overrides: str, run_dir: Path, cache: Path, timeout: float = 900, multirun: bool = False,
                lock: Path | None = None) -> Run:
    """convert.py with these overrides into run_dir (the sweep dir with multirun=True)."""
    where = f"hydra.sweep.dir={run_dir}" if multirun else f"hydra.run.dir={run_dir}"
    extra = [f"bench.lock_file={lock}"] if lock else []
    args = [sys.executable, "convert.py", *(["-m"] if multirun else []), *overrides, *extra, where]
    proc = subprocess.run(args, cwd=REPO, env=cli_env(cache), capture_output=True, text=True, timeout=timeout)
    return Run(run_dir, proc.returncode, proc.stdout, proc.stderr, list(overrides))


def _shared_root(tmp_path_factory) -> Path:
    """A folder every xdist worker of this test session sees (the session's own temp root)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory) -> Path:
    return _shared_root(tmp_path_factory)


@pytest.fixture(scope="session")
def cache_dir(shared_root) -> Path:
    """One conversion cache for the test session: isolated from the user's, shared by all workers (entries
    are published by atomic rename, so concurrent runs are safe)."""
    path = shared_root / "cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def bench_lock(shared_root) -> Path:
    """The machine-wide benchmark lock, but this session's own: the tests' benchmarks never run at once,
    and never wait for another user's benchmark on this machine."""
    return shared_root / "convgraph-bench.lock"


@pytest.fixture
def convert(tmp_path, cache_dir, bench_lock):
    """convert(*overrides, run_dir=None) -> Run, in a fresh run dir, on the session's cache."""

    def run(*overrides: str, run_dir: Path | None = None, cache: Path | None = None, timeout: float = 900,
            multirun: bool = False) -> Run:
        return run_convert(*overrides, run_dir=run_dir or tmp_path / "run", cache=cache or cache_dir,
                           timeout=timeout, multirun=multirun, lock=bench_lock)

    return run


def _shared_run(name: str, overrides: list[str], shared_root: Path, cache_dir: Path, lock: Path) -> Run:
    """Run convert.py once per test session (whichever worker asks first), then hand out what it wrote."""
    run_dir = shared_root / "shared" / name
    done = run_dir.parent / f"{name}.json"
    run_dir.parent.mkdir(exist_ok=True)
    with FileLock(str(run_dir.parent / f"{name}.lock")):
        if not done.exists():
            run = run_convert(*overrides, run_dir=run_dir, cache=cache_dir, lock=lock)
            done.write_text(json.dumps({"returncode": run.returncode, "stdout": run.stdout, "stderr": run.stderr}))
    recorded = json.loads(done.read_text())
    return Run(run_dir, recorded["returncode"], recorded["stdout"], recorded["stderr"], overrides)


@pytest.fixture(scope="session")
def all_run(shared_root, cache_dir, bench_lock) -> Run:
    run = _shared_run("all", ALL_RUN, shared_root, cache_dir, bench_lock)
    assert run.returncode == 0, run.tail()
    return run


@pytest.fixture(scope="session")
def failure_run(shared_root, cache_dir, bench_lock) -> Run:
    return _shared_run("failure", FAILURE_RUN, shared_root, cache_dir, bench_lock)


@pytest.fixture(scope="session")
def head_run(shared_root, cache_dir, bench_lock) -> Run:
    run = _shared_run("head", HEAD_RUN, shared_root, cache_dir, bench_lock)
    assert run.returncode == 0, run.tail()
    return run


# ---- scheduling ---------------------------------------------------------------------------------------------
# pytest-xdist (--dist loadgroup --no-loadscope-reorder) hands out work in collection order: the longest work
# first, so that the two workers finish together. A group is one unit; these are the long ones, longest first.
GROUP_ORDER = ("all_run", "replay", "failure_run", "head_run", "litert", "rnn", "yolo", "cache", "profile")


def _group(item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    if mark is None:
        return None
    return mark.args[0] if mark.args else mark.kwargs.get("name")


def pytest_collection_modifyitems(config, items):
    def rank(item):
        group = _group(item)
        if group in GROUP_ORDER:
            return (0, GROUP_ORDER.index(group))
        if item.get_closest_marker("slow") and "convert" in getattr(item, "fixturenames", ()):
            return (0, len(GROUP_ORDER))  # a real-size conversion of its own: tens of seconds, start it early
        if "convert" in getattr(item, "fixturenames", ()) or item.get_closest_marker("cli"):
            return (1, 0)  # runs convert.py: seconds
        return (2, 0)  # in-process: milliseconds to a second

    items.sort(key=rank)  # stable: within a rank, the files' own order
