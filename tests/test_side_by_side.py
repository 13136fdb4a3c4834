"""The int8 searches' quick timing (converters.int8.search.SideBySide): the float model and a candidate timed in
turn, in blocks, each block's first call uncounted. One call each in turn made the float model run on caches the
candidate had just filled: on PP-OCRv4's detector it rated an ONNX Runtime int8 file faster than its fp32 where
blocks of calls measured it slower, and int8 that did not pay was offered."""
from __future__ import annotations

import time

from converters.int8.search import SideBySide


def test_the_two_are_timed_in_alternating_blocks_each_warmed_first():
    calls = []
    timing = SideBySide(lambda: calls.append("f"), rounds=3, block=2)
    timing.speedup(lambda: calls.append("c"))
    assert "".join(calls) == "fffccc" * 3  # per round: a warm-up call and 2 counted, float first


def test_a_slower_candidate_is_rated_below_one():
    speedup = SideBySide(lambda: time.sleep(0.001), rounds=3, block=2).speedup(lambda: time.sleep(0.004))
    assert 0 < speedup < 0.8
