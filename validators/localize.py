"""Where does a candidate first diverge from its ONNX source? Compare every intermediate tensor.

The source ONNX runs in onnxruntime with every node output exposed as a graph output; the candidate's runtime
exposes the same-named tensors (its `tensors` hook in the runtimes registry: ONNX the same way, an OpenVINO IR
through Model.add_outputs, since the IR keeps ONNX tensor names). Walking the source's nodes in topological
order, the first node whose output differs beyond the tolerance is reported: name, op type, error.

    python -m validators.localize REQUEST.json     (the pipeline runs it in a child process; request and
                                                   reply: validators/localize_protocol.py)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import runtimes
from core.artifact import Artifact
from core.child_exit import exit_now
from core.child_protocol import ProtocolError
from validators.localize_protocol import LocalizeReply, LocalizeRequest


def first_divergence(source_path: str, reference: dict, candidate: dict, atol: float, rtol: float) -> LocalizeReply:
    """Walk the source's nodes in order; the first output over tolerance names the diverging node."""
    import onnx

    graph = onnx.load(source_path).graph
    compared = 0
    for node in graph.node:
        for name in node.output:
            if name not in reference or name not in candidate:
                continue
            ref, cand = reference[name], candidate[name]
            if ref.shape != cand.shape:
                continue  # the candidate may keep this tensor in another layout: not comparable by name
            compared += 1
            diff = np.abs(cand.astype(np.float64) - ref.astype(np.float64))
            excess = diff - (atol + rtol * np.abs(ref.astype(np.float64)))
            if excess.size and excess.max() > 0:
                return LocalizeReply(found=True, node=node.name, op_type=node.op_type, tensor=name,
                                     max_abs=float(diff.max()), compared_tensors=compared, source=source_path)
    return LocalizeReply(found=False, compared_tensors=compared, source=source_path)


def localize(source_path: str, candidate: Artifact, batch: dict[str, np.ndarray], atol: float,
             rtol: float) -> LocalizeReply:
    """The source ONNX's tensors (onnxruntime) against the same-named tensors of the candidate's runtime."""
    hook = runtimes.for_format(candidate.format).tensors
    if hook is None:
        return LocalizeReply(found=False, reason=f"no intermediate-tensor access for format {candidate.format!r} yet")
    source = Artifact(name="source", format="onnx", path=source_path)
    reference = runtimes.get("onnxruntime").tensors(source, None, batch)
    tensors = hook(candidate, list(reference), batch, candidate.precision)
    return first_divergence(source_path, reference, tensors, atol, rtol)


def main(request_path: str) -> int:
    try:
        request = LocalizeRequest.read(request_path)
    except ProtocolError as error:  # the parent reads the log's last line when no reply comes
        print(f"error: {error}", file=sys.stderr)
        return 2
    artifact = request.artifact
    with np.load(request.inputs) as data:  # one call (the first sample) is enough to find where it diverges
        batch = {spec.name: data[spec.name][0] for spec in artifact.inputs}
    localize(request.source, artifact, batch, request.atol, request.rtol).write(Path(request.result))
    return 0


if __name__ == "__main__":
    exit_now(main(sys.argv[1]))
