"""What tools.reduce found, written down: repro.md for a person (the commands, the versions, the failure, the nodes
left and the proof that none can go) and reduce.json for a program."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np

import runtimes
from bench.environment import package_versions
from converters import step_module
from tools.reduce_check import Case, Checks, Outcome
from tools.reduce_search import Found
from tools.subgraph import Graph

COMMAND = re.compile(r"^\$ (onnx2tf .*)$", re.MULTILINE)


def write_repro(run_dir: Path, folder: Path, case: Case, graph: Graph, found: Found, outcome: Outcome,
                checks: Checks, batch: dict[str, np.ndarray]) -> str:
    """Write repro.md and reduce.json into `folder` (model.onnx and inputs.npz are there); the summary to print."""
    nodes = graph.describe(found.kept)
    steps = " + ".join(s.kind for s in case.chain)
    proof = [(graph.name(i), graph.nodes[i].op_type, result) for i, result in found.proof]
    versions = _versions(case)
    written = _tensors(folder / "model.onnx")
    record = {"artifact": case.artifact, "steps": [s.kind for s in case.chain], "source": case.source.name,
              "failure": "crash" if case.crash else "parity", "run_failure": case.describe(),
              "nodes_before": len(graph.real), "nodes": nodes, "reproduces": outcome.fails, "line": outcome.line,
              "worst_abs": outcome.worst_abs, "conversions": checks.conversions, "stopped": found.stopped or None,
              "batch": {name: list(value.shape) for name, value in batch.items()}, **written,
              "proof": [{"removed": n, "op_type": op, "fails": r.fails, "line": r.line} for n, op, r in proof],
              "candidates": checks.log, "versions": versions}
    (folder / "reduce.json").write_text(json.dumps(record, indent=2))
    (folder / "repro.md").write_text(_markdown(run_dir, folder, case, record, _commands(run_dir, folder, case,
                                                                                        outcome)))
    minimal = ("a single node: nothing left to remove" if len(nodes) == 1 else
               "removing any end node makes it pass" if all(not r.fails for _, _, r in proof) else
               "NOT minimal: " + found.stopped)
    return "\n".join([
        f"reduced {case.artifact} ({steps}): {len(graph.real)} nodes -> {len(nodes)}: {_few(nodes)}",
        f"{'fails' if outcome.fails else 'does NOT fail'} the same way: {outcome.line}",
        f"proof: {minimal}",
        f"conversions: {checks.conversions} (each candidate: {steps}{'' if case.crash else ' + parity check'})",
        f"wrote {folder}/: model.onnx, inputs.npz, repro.md, reduce.json"])


def _few(nodes: list[str]) -> str:
    return ", ".join(nodes) if len(nodes) <= 8 else ", ".join([*nodes[:3], "...", *nodes[-3:]]) + " (all: repro.md)"


def _versions(case: Case) -> dict[str, str | None]:
    names = [p for s in case.chain for p in getattr(step_module(s.kind), "PACKAGES", ())]
    names += ["onnx", "onnxruntime"]
    if not case.crash:
        last = {"onnx_to_tf": "tf_savedmodel", "tf_to_tflite": "tflite", "onnx_to_openvino": "openvino"}
        fmt = last.get(case.chain[-1].kind, "onnx")
        names += list(runtimes.for_format(fmt).packages)
    return package_versions(list(dict.fromkeys(names)))


def _commands(run_dir: Path, folder: Path, case: Case, outcome: Outcome) -> list[str]:
    """The commands that reproduce it: convgraph's recheck, and the converter's own command where it has one."""
    commands = [f"python -m tools.reduce {shlex.quote(str(run_dir))} {shlex.quote(case.artifact)} --recheck"]
    kinds = [s.kind for s in case.chain]
    if kinds[0] == "onnx_to_tf" and outcome.number is not None:
        log = folder / "logs" / f"{outcome.number:03d}-{case.chain[0].name}.log"
        found = COMMAND.findall(log.read_text(errors="replace")) if log.is_file() else []
        if found:  # as the step ran it, on a copy: onnx2tf rewrites its input (and, offline, needs the calibration
            # sample the step writes into its folder: converters.onnx_to_tf.CALIBRATION_FILE)
            command = found[-1].replace("-i model.onnx", "-i copy.onnx", 1)
            commands.append(f"cd {shlex.quote(str(folder))} && cp model.onnx copy.onnx && {command}")
    if kinds[0] == "onnx_to_openvino":
        commands.append(f"cd {shlex.quote(str(folder))} && python -c \"import openvino as ov; "
                        "ov.save_model(ov.convert_model('model.onnx'), 'model.xml', compress_to_fp16=False)\"")
    return commands


def _markdown(run_dir: Path, folder: Path, case: Case, record: dict, commands: list[str]) -> str:
    options = "\n".join(f"- `{s.name}` ({s.kind}): `{json.dumps(s.options)}`" for s in case.chain)
    proof = "\n".join(f"| {p['removed']} | {p['op_type']} | {'still fails' if p['fails'] else 'passes'}: "
                      f"{_cell(p['line'])} |" for p in record["proof"])
    if not proof:
        proof = "| (a single node: nothing left to remove) | | |"
    versions = ", ".join(f"{k} {v}" for k, v in record["versions"].items())
    tolerance = f"\nParity tolerance (the run's, {case.chain[-1].name}): `{json.dumps(case.tolerance)}`\n" \
        if not case.crash else ""
    calibration = ", `calibration.npz` (the same on the run's calibration samples)" if case.calibration else ""
    stopped = f"\nStopped early: {record['stopped']}; the file fails but may not be minimal.\n" \
        if record["stopped"] else ""
    return f"""# Minimal repro: {case.artifact} of {run_dir}

The run failed: {case.describe()}

Reduced from `{case.source.name}` ({record['nodes_before']} nodes) to {len(record['nodes'])}, in \
{record['conversions']} conversions. In this folder: `model.onnx`, `inputs.npz` (what ONNX Runtime computed at the \
cuts on the run's inputs){calibration}.

## Reproduce

```
{chr(10).join(commands)}
```

Steps and options, as the run gave them (int8 accuracy-aware search off: a subgraph has no task to judge it by):
{options}
{tolerance}
Versions: {versions}

## The failure, on the reduced file

{record['line']}

Nodes left: {', '.join(record['nodes'])}
Inputs: {_listed(record['inputs'])}; outputs: {_listed(record['outputs'])}

## Proof: removing one more node at either end

| node removed | op | outcome |
|---|---|---|
{proof}
{stopped}"""


def _tensors(path: Path) -> dict[str, dict[str, list[int]]]:
    """The written model's inputs and outputs: {name: shape}."""
    import onnx

    from converters.step_io.onnx_io import tensor_specs

    inputs, outputs = tensor_specs(onnx.load(str(path), load_external_data=False))
    return {"inputs": {t.name: t.shape for t in inputs}, "outputs": {t.name: t.shape for t in outputs}}


def _listed(tensors: dict[str, list[int]]) -> str:
    return ", ".join(f"`{name}` {shape}" for name, shape in tensors.items())


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:200]
