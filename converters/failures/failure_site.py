"""Where a conversion broke: the node and its op, read from the converter's own words.

Each converter names the failing node its own way: onnx2tf logs `onnx_op_name: NAME` (or `OP OP is not yet
implemented.`), OpenVINO's ONNX frontend `<Node(OP): NAME>` (NAME: the node's or its first output's name) or `No
conversion rule found for operations: DOMAIN.OP`, ONNX Runtime (onnxsim and the quantizer run it) `Node (NAME) Op
(OP)`, `(op_type:OP, node name: NAME)` or `running OP node. Name:'NAME'`, TensorFlow's MLIR converter `loc("NAME")`
beside `'tf.OP' op`. A name is checked against the ONNX model
the converter was given (onnx2tf renames with `__` for `:`); one that is not there is not reported: no guess.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from core.errors import NotApplicable, StepFailed, UserError

ONNX_PATTERNS = (  # (node name, op type) in one match
    re.compile(r"Node \((?P<node>[^)]+)\) Op \((?P<op>[^)]+)\)"),  # ONNX Runtime
    re.compile(r"\(op_type:(?P<op>[^,]+), node name: (?P<node>[^)]+)\)"),  # ONNX shape inference
    re.compile(r"<Node\((?P<op>[^)]+)\): (?P<node>[^>]+)>"),  # OpenVINO's ONNX frontend
    re.compile(r"onnx_op_name: (?P<node>\S+)"),  # onnx2tf, in its error report
    re.compile(r"Error in Node:(?P<node>\S+) :"),  # ONNX Runtime, graph resolution
    re.compile(r"running (?P<op>\w+) node\. Name:'(?P<node>[^']+)'"),  # ONNX Runtime, a kernel that failed
)
UNSUPPORTED_PATTERNS = (  # an op the converter has no conversion for
    re.compile(r"(?P<op>\w+) OP is not yet implemented"),  # onnx2tf
    re.compile(r"No conversion rule found for operations: (?P<op>[\w.]+)"),  # OpenVINO (DOMAIN.OP)
    re.compile(r"(?P<op>[\w.]+:\w+)\(-?\d+\) is not a registered function/op"),  # ONNX Runtime (DOMAIN:OP)
)
# the first error's location: loc("NAME"), or loc(callsite(fused["OP:", "NAME@function"] at ...))
MLIR_LOCATION = re.compile(r'error: loc\((?:callsite\()*(?:fused\[)?(?:"[^"]*:", )?"(?P<node>[^"@]+)')
MLIR_OP = re.compile(r"'(?P<op>(?:tf|tfl)\.\w+)' op")
# lines that say where or how a converter failed but not what went wrong (OpenVINO's report, tracebacks)
BOILERPLATE = re.compile(r"^(Check '.*' failed at |FrontEnd API failed|Model wasn't fully converted|Summary:|-- |"
                         r"While validating|\[ONNX Frontend\] Conversion failed|Traceback|File \"|<unknown>:0: note)")


@dataclass(frozen=True)
class Site:
    node: str | None = None
    op_type: str | None = None
    domain: str = ""
    unsupported: bool = False  # the converter has no conversion for this op at all

    def __bool__(self) -> bool:
        return bool(self.node or self.op_type)


class ConversionFailed(StepFailed):
    """A converter failed: its own words, and where when its output says (run_step records node and op)."""

    def __init__(self, converter: str, words: str, site: Site):
        self.node, self.op_type = site.node, site.op_type
        if site.unsupported:
            where = f" ({site.domain})" if site.domain else ""
            at = f", needed by node {site.node!r}" if site.node else ""
            message = f"{converter} has no converter for {site.op_type}{where}{at}"
        elif site.node:
            message = f"{converter} failed at node {site.node!r} ({site.op_type}): {words}"
        elif site.op_type:
            message = f"{converter} failed at a {site.op_type} node: {words}"
        else:
            message = f"{converter} failed: {words}"
        super().__init__(message)


@contextmanager
def converting(converter: str, onnx_path: str | None = None) -> Iterator[None]:
    """Inside: an exception whose text names the failing node becomes a ConversionFailed saying where; one that
    names none is raised as it was."""
    try:
        yield
    except (UserError, NotApplicable, ConversionFailed):
        raise
    except Exception as error:
        text = str(error)
        site = locate(text, onnx_path)
        if not site:
            raise
        said = words(text) if isinstance(error, StepFailed) else f"{type(error).__name__}: {words(text)}"
        raise ConversionFailed(converter, said, site) from error


def words(text: str) -> str:
    """The line of a converter's message that says what went wrong (its last line that is not boilerplate)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    mlir = next((line for line in lines if "error: loc(" in line), None)
    if mlir:  # TensorFlow's converter: its first error, after the location
        return mlir.rsplit("): ", 1)[-1][:500]
    kept = [line for line in lines if not BOILERPLATE.match(line)]
    return ((kept or lines or [""])[-1])[:500]


def locate(text: str, onnx_path: str | None = None) -> Site:
    """The failing node and op named in a converter's output; an empty Site when it names none (or names one the
    ONNX model does not have)."""
    nodes = _nodes(onnx_path) if onnx_path else []
    for pattern in UNSUPPORTED_PATTERNS:
        found = pattern.search(text)
        if found:
            return _unsupported(found["op"], nodes)
    names = _names(nodes)
    for pattern in ONNX_PATTERNS:
        for found in pattern.finditer(text):
            site = _resolve(found["node"].strip(), found.groupdict().get("op"), names, bool(onnx_path))
            if site:
                return site
    location, op = MLIR_LOCATION.search(text), MLIR_OP.search(text)
    if location and not onnx_path:  # TensorFlow's own names: the converter's graph, not an ONNX one
        return Site(location["node"], op["op"] if op else None)
    return Site()


def op_domain(path: str, op_type: str | None) -> str:
    """The domain of the first node of `op_type` in an ONNX file ('' for the default one, or none found)."""
    return next((domain for _, op, domain, _ in _nodes(path) if op == op_type), "")


def _nodes(path: str) -> list[tuple[str, str, str, str]]:
    """(name, op type, domain, first output) of every node, in the graph's order."""
    import onnx

    graph = onnx.load(path, load_external_data=False).graph
    return [(n.name, n.op_type, n.domain, n.output[0] if n.output else "") for n in graph.node]


def _names(nodes: list[tuple[str, str, str, str]]) -> dict[str, tuple[str, str, str]]:
    """Every name a converter may call a node by -> (node name, op type, domain): its name, onnx2tf's sanitized
    name (`:` -> `__`, a leading `/` -> `wa/`) and its first output's name (OpenVINO); node names win."""
    names: dict[str, tuple[str, str, str]] = {}
    for name, op, domain, output in reversed(nodes):  # the first node of a name wins
        if output:
            names[output] = (name, op, domain)
    for name, op, domain, _ in reversed(nodes):
        if name:
            sanitized = name.replace(":", "__")
            for alias in (name, sanitized, re.sub("^/", "wa/", sanitized)):
                names[alias] = (name, op, domain)
    return names


def _resolve(name: str, op: str | None, names: dict, checked: bool) -> Site:
    if not checked:
        return Site(name, op) if op else Site()
    entry = names.get(name)
    if entry is None or (op and op.split("-")[0] != entry[1]):  # OpenVINO says MatMul-13: op and opset
        return Site()
    return Site(*entry)


def _unsupported(op: str, nodes: list[tuple[str, str, str, str]]) -> Site:
    """`DOMAIN.OP` / `DOMAIN:OP` / `OP`: the op, its domain, and the first node of it (where a converter that goes
    in node order stopped)."""
    domain, _, op_type = op.replace(":", ".").rpartition(".")
    first = next(((name, dom) for name, kind, dom, _ in nodes if kind == op_type), None)
    if first is None:
        return Site(None, op_type, domain, unsupported=True)
    return Site(first[0] or None, op_type, domain or first[1], unsupported=True)
