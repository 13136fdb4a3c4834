"""Integer and boolean outputs (indices, counts, masks) are compared exactly; float outputs by tolerance."""
from __future__ import annotations

import numpy as np

from validators.parity import compare

TOL = {"atol": 1e-4, "rtol": 1e-3, "cosine": 0.99999}


def test_integer_and_bool_outputs_must_be_equal():
    ids = np.arange(12, dtype=np.int64).reshape(3, 4)
    mask = ids % 2 == 0
    scores = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    same = compare("c", "r", "fp32", [ids, mask, scores], [ids.copy(), mask.copy(), scores + 1e-6],
                   ["ids", "mask", "scores"], TOL)
    assert same.passed and [o.max_abs for o in same.outputs][:2] == [0.0, 0.0]
    off = ids.copy()
    off[2, 1] += 1  # one index off by one: within any float tolerance a user might set, still wrong
    flipped = mask.copy()
    flipped[0, 0] = False
    report = compare("c", "r", "fp32", [ids, mask, scores], [off, flipped, scores], ["ids", "mask", "scores"],
                     {"atol": 5.0, "rtol": 1.0, "cosine": 0.0})
    assert not report.passed
    bad = {o.name: o for o in report.outputs}
    assert bad["ids"].reason == "1 of 12 values differ (int64: compared exactly), first at [2, 1]: 10 vs reference 9"
    assert bad["mask"].reason.startswith("1 of 12 values differ (bool: compared exactly), first at [0, 0]")
    assert bad["scores"].passed
