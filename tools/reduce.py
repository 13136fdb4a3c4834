"""Reduce a failed conversion to the smallest ONNX subgraph that still fails the same way: a file small enough to
hand to the converter's maintainers.

    python -m tools.reduce RUN_DIR ARTIFACT [--max-conversions N]
    python -m tools.reduce RUN_DIR ARTIFACT --recheck     # convert the written repro again

ARTIFACT is a step of the run that failed (a crash) or whose parity check failed. The ONNX that step (or, for a
TFLite file, the onnx_to_tf step before it) converted from is bisected (tools/reduce_search.py), the tensors at each
cut frozen to what ONNX Runtime computes on the run's first batch of inputs (for a parity failure: the batch the
run's recorded outputs fail worst on), each candidate converted by the same step kinds with the same options
(tools/reduce_check.py). Writes RUN_DIR/reduce/ARTIFACT/: model.onnx, inputs.npz (calibration.npz for int8),
repro.md (the commands, package versions, the failure, the nodes left, the proof) and reduce.json.
Exit 0: reduced (or, --recheck: it still fails); 1: the failure does not reproduce; 2: a bad RUN_DIR or ARTIFACT.
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from core.errors import UserError  # noqa: E402 - after the path set-up above
from pipeline.results import FILE, load_results  # noqa: E402
from tools.reduce_case import case_of, pick_batch  # noqa: E402
from tools.reduce_check import Checks  # noqa: E402
from tools.reduce_report import write_repro  # noqa: E402
from tools.reduce_search import minimise  # noqa: E402
from tools.subgraph import Graph, tensor_values  # noqa: E402


class CalibrationValues:
    """The cut tensors' values on each of the run's calibration samples (int8), computed when first asked for."""

    def __init__(self, onnx_path: str, calibration: Path | None):
        self.path, self.samples, self.cache = onnx_path, [], {}
        if calibration is not None:
            with np.load(calibration) as data:
                arrays = {name: data[name] for name in data.files}
            count = len(next(iter(arrays.values())))
            self.samples = [{name: a[i] for name, a in arrays.items()} for i in range(count)]  # one call each

    @property
    def count(self) -> int:
        return len(self.samples)

    def __call__(self, names: set[str], index: int) -> dict[str, np.ndarray]:
        known = self.cache.setdefault(index, dict(self.samples[index]))
        missing = names - set(known)
        if missing:
            known.update(tensor_values(self.path, self.samples[index], missing))
        return known


def reduce(run_dir: Path, artifact: str, budget: int) -> int:
    results = load_results(run_dir)
    case = case_of(results, run_dir, artifact)
    folder = run_dir / "reduce" / artifact
    shutil.rmtree(folder, ignore_errors=True)  # a repro of an earlier reduce must not be taken for this one's
    (folder / "logs").mkdir(parents=True)
    graph = Graph(case.source.path)
    batch = pick_batch(results, run_dir, case)
    values = tensor_values(case.source.path, batch)
    checks = Checks(case, graph, values, CalibrationValues(case.source.path, case.calibration), folder)
    print(f"reducing {artifact} ({' + '.join(s.kind for s in case.chain)}) of {run_dir}: {case.describe()}")
    print(f"  from {case.source.name} ({len(graph.real)} nodes), each candidate converted again:", flush=True)
    whole = checks(graph.real)
    if not whole.fails:
        print(f"error: the failure does not reproduce on {case.source.name} with the same step options: "
              f"{whole.line}", file=sys.stderr)
        return 1
    hint = graph_index(graph, case.node)
    found = minimise(graph, checks, hint, budget=lambda: checks.conversions < budget)
    outcome = checks(found.kept)
    checks.write(graph.cut(found.kept), folder)
    summary = write_repro(run_dir, folder, case, graph, found, outcome, checks, batch)
    shutil.rmtree(folder / "work", ignore_errors=True)
    print(summary)
    return 0


def graph_index(graph: Graph, name: str | None) -> int | None:
    return next((i for i, node in enumerate(graph.nodes) if name and node.name == name), None)


def recheck(run_dir: Path, artifact: str) -> int:
    """Convert the written repro again with the case's steps: does it still fail the same way?"""
    import onnx

    from converters.step_io.onnx_io import opset_of, tensor_specs
    from core.artifact import Artifact

    results = load_results(run_dir)
    case = case_of(results, run_dir, artifact)
    folder = run_dir / "reduce" / artifact
    if not (folder / "model.onnx").is_file():
        raise UserError(f"{folder} holds no model.onnx: run `python -m tools.reduce {run_dir} {artifact}` first")
    model = onnx.load(str(folder / "model.onnx"))
    inputs, outputs = tensor_specs(model)
    source = Artifact(name="reduced", format="onnx", path=str(folder / "model.onnx"), inputs=inputs, outputs=outputs,
                      meta={"opset": opset_of(model)})
    calibration = folder / "calibration.npz"
    checks = Checks(case, Graph(source.path), {}, None, folder)
    (folder / "logs").mkdir(exist_ok=True)
    work = folder / "recheck"
    try:
        outcome = checks.run(source, folder / "inputs.npz", calibration if calibration.is_file() else None, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'fails the same way' if outcome.fails else 'does NOT fail the same way'}: {outcome.line}")
    return 0 if outcome.fails else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run directory (holding results.json)")
    parser.add_argument("artifact", help="the failed step, or the artifact whose parity failed")
    parser.add_argument("--max-conversions", type=int, default=60, help="stop the search after this many")
    parser.add_argument("--recheck", action="store_true", help="convert RUN_DIR/reduce/ARTIFACT again")
    args = parser.parse_args(argv)
    try:
        if not (args.run_dir / FILE).is_file():
            raise UserError(f"{args.run_dir} is not a run directory: it has no {FILE}")
        if args.recheck:
            return recheck(args.run_dir, args.artifact)
        return reduce(args.run_dir, args.artifact, args.max_conversions)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
