"""The search for the smallest failing subgraph, in the order Polygraphy's `debug reduce` takes: outputs first, then
inputs, by bisection over the graph's node order; then one node at a time from either end, until removing any
end node makes the failure go away (that last round is also the proof).

- outputs: the shortest prefix of the nodes (in graph order) that still fails, then only what its last node
  depends on, when that still fails;
- inputs: the shortest suffix of those nodes that still fails (what the cut nodes computed is frozen);
- ends: a node at the input end (it reads nothing made inside) or at the output end (nothing inside reads it)
  is removed while the rest still fails.

A hint (the node the converter named, or where parity first diverged) is tried first by each bisection: where the
failure is that node's, the bisections then cost two conversions each.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tools.subgraph import Graph


@dataclass
class Found:
    kept: set[int]
    proof: list[tuple[int, object]] = field(default_factory=list)  # (end node removed, the outcome without it)
    stopped: str = ""  # why the search ended early (the conversion budget), "" when it ran to the end


class OutOfBudget(Exception):
    pass


def minimise(graph: Graph, check: Callable, hint: int | None = None, budget: Callable[[], bool] = lambda: True
             ) -> Found:
    """`check(nodes)` -> an outcome with `.fails`; the whole graph must fail. `budget()` false: stop where it is."""
    found = Found(set(graph.real))

    def fails(nodes) -> bool:
        if not budget():
            raise OutOfBudget
        return check(nodes).fails

    try:
        order = graph.real
        at = order.index(hint) if hint in order else None
        end = first_failing(len(order), lambda i: fails(order[: i + 1]), at)
        found.kept = set(order[: end + 1])
        cone = graph.ancestors(order[end])
        if cone != found.kept and fails(cone):
            found.kept = cone
        ordered = [i for i in order if i in found.kept]
        at = ordered.index(hint) if hint in ordered else None
        start = last_failing(len(ordered), lambda j: fails(ordered[j:]), at)
        found.kept = set(ordered[start:])
        found.kept = trim_ends(graph, found.kept, fails)
    except OutOfBudget:
        found.stopped = "the conversion budget ran out"
        return found
    first, last = graph.ends(found.kept)
    if len(found.kept) > 1:
        found.proof = [(i, check(found.kept - {i})) for i in dict.fromkeys(first + last)]  # memoised: no new work
    return found


def first_failing(count: int, fails: Callable[[int], bool], guess: int | None = None) -> int:
    """The smallest i in [0, count) for which fails(i), fails(count - 1) being known true (bisection; `guess` and
    the one before it are tried first)."""
    lo, hi = 0, count - 1
    probes = [guess, guess - 1] if guess is not None else []
    while lo < hi:
        mid = probes.pop(0) if probes else (lo + hi) // 2
        if not lo <= mid < hi:
            continue
        if fails(mid):
            hi = mid
        else:
            lo = mid + 1
    return hi


def last_failing(count: int, fails: Callable[[int], bool], guess: int | None = None) -> int:
    """The largest j in [0, count) for which fails(j), fails(0) being known true (bisection; `guess` and the one
    after it are tried first)."""
    lo, hi = 0, count - 1
    probes = [guess, guess + 1] if guess is not None else []
    while lo < hi:
        mid = probes.pop(0) if probes else (lo + hi + 1) // 2
        if not lo < mid <= hi:
            continue
        if fails(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def trim_ends(graph: Graph, kept: set[int], fails: Callable) -> set[int]:
    """Remove end nodes one at a time while what is left still fails."""
    changed = True
    while changed and len(kept) > 1:
        changed = False
        first, last = graph.ends(kept)
        for node in dict.fromkeys(first + last):
            if fails(kept - {node}):
                kept, changed = kept - {node}, True
                break
    return kept
