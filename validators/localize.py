"""Where does a candidate first diverge from its ONNX source? Compare every intermediate tensor.

The source ONNX runs in onnxruntime with every node output exposed as a graph output; the candidate
exposes the same-named tensors (an ONNX candidate the same way, an OpenVINO IR through Model.add_outputs,
since the IR keeps ONNX tensor names). Walking the source's nodes in topological order, the first node
whose output differs beyond the tolerance is reported: name, op type, error.

    python -m validators.localize REQUEST.json     (the pipeline runs it in a child process)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from core.artifact import Artifact


def exposed_onnx(path: str):
    """The model with every node output added as a graph output (types from shape inference)."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    typed = {v.name: v for v in [*model.graph.value_info, *model.graph.output]}
    present = {o.name for o in model.graph.output}
    for node in model.graph.node:
        for name in node.output:
            if name and name not in present and name in typed:
                model.graph.output.append(typed[name])
                present.add(name)
    return model


def onnx_tensors(path: str, batch: np.ndarray) -> dict[str, np.ndarray]:
    import onnxruntime as ort

    model = exposed_onnx(path)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {session.get_inputs()[0].name: batch})
    return dict(zip(names, values, strict=True))


def openvino_tensors(ir_dir: str, wanted: list[str], batch: np.ndarray, precision: str) -> dict[str, np.ndarray]:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(f"{ir_dir}/model.xml")
    known = {name for op in model.get_ops() for out in op.outputs() for name in out.get_names()}
    model.add_outputs([name for name in wanted if name in known])
    hint = "bf16" if precision == "bf16" else "f32"
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint})
    results = compiled.create_infer_request().infer({0: batch})
    out = {}
    for port in compiled.outputs:
        for name in port.get_names():
            if name in wanted:
                out[name] = np.array(results[port])
    return out


def first_divergence(source_path: str, reference: dict, candidate: dict, atol: float, rtol: float) -> dict:
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
                return {"found": True, "node": node.name, "op_type": node.op_type, "tensor": name,
                        "max_abs": float(diff.max()), "compared_tensors": compared}
    return {"found": False, "compared_tensors": compared}


def localize(source_path: str, candidate: Artifact, batch: np.ndarray, atol: float, rtol: float) -> dict:
    reference = onnx_tensors(source_path, batch)
    if candidate.format == "onnx":
        tensors = onnx_tensors(candidate.path, batch)
    elif candidate.format == "openvino":
        tensors = openvino_tensors(candidate.path, list(reference), batch, candidate.precision)
    else:
        return {"found": False, "reason": f"no intermediate-tensor access for format {candidate.format!r} yet"}
    result = first_divergence(source_path, reference, tensors, atol, rtol)
    result["source"] = source_path
    return result


def main(request_path: str) -> int:
    request = json.loads(Path(request_path).read_text())
    artifact = Artifact.from_dict(request["artifact"])
    size = artifact.inputs[0].shape[0] if artifact.inputs and artifact.inputs[0].shape[0] > 0 else 1
    batch = np.load(request["inputs"])["input"][:size]  # one batch is enough to find where it diverges
    result = localize(request["source"], artifact, batch, request["atol"], request["rtol"])
    Path(request["result"]).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
