"""A step's cache key hashes its own source and the modules named in its CODE (pipeline/cache.py): a helper the
step imports but CODE forgets leaves a changed int8 recipe served from the cache as if nothing had changed. Every
converters.int8 helper a step reaches through its imports (at any depth, imports inside functions included) must
be named."""
import ast
import importlib.util
from pathlib import Path

import pytest

STEPS = ("converters.onnx_precision", "converters.onnx_to_openvino", "converters.tf_to_tflite")
WATCHED = "converters.int8."  # the helpers whose code decides what an int8 file holds


def _imports(module: str) -> set[str]:
    tree = ast.parse(Path(importlib.util.find_spec(module).origin).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            if node.module == WATCHED.rstrip("."):  # from converters.int8 import quantize_onnxruntime
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith(WATCHED)}


@pytest.mark.parametrize("step", STEPS)
def test_every_int8_helper_a_step_reaches_is_in_its_cache_key(step):
    import importlib

    code = set(importlib.import_module(step).CODE)
    reached, todo = set(), [step]
    while todo:
        for name in _imports(todo.pop()) - reached:
            reached.add(name)
            todo.append(name)
    assert reached <= code, f"{step}.CODE misses {sorted(reached - code)}"
