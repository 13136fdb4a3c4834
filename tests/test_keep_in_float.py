"""Which candidate the accuracy-aware search keeps (converters/int8/search.py keep_in_float), on made-up agreement
and speed curves: the search's choice is arithmetic on what it measured, so its rule is tested apart from any
runtime (the runtimes' searches: test_worth_it.py, test_tflite_int8.py)."""
import pytest

from converters.int8.search import SAME_AGREEMENT, Search, keep_in_float

RANKED = [f"node{i}" for i in range(16)]


def _search(plain: float) -> Search:
    search = Search(0.95, "mean IoU", 8)
    search.plain_agreement = search.agreement = plain
    return search


def test_out_of_reach_float_islands_that_buy_little_are_not_kept():
    """PP-OCRv4's detector on ONNX Runtime: 32 nodes in float moved mean IoU 0.9144 -> 0.9151 and cost time."""
    search = _search(0.9144)
    kept = keep_in_float(RANKED, lambda kept: 0.9144 + 0.00005 * len(kept), search, 60,
                         lambda kept: 1.5 - 0.02 * len(kept), plain_speedup=1.5)
    assert kept == [] and search.speedup == 1.5 and search.stopped == "every candidate tried"


def test_out_of_reach_the_best_agreement_is_kept_when_it_buys_more_than_the_margin():
    search = _search(0.90)
    kept = keep_in_float(RANKED, lambda kept: 0.90 + 0.003 * len(kept), search, 60,
                         lambda kept: 1.5 - 0.02 * len(kept), plain_speedup=1.5)
    best = 0.90 + 0.003 * 16
    # every count within the margin of the best (16 nodes) is as good; of those the fewest (also the fastest)
    assert len(kept) == min(n for n in (1, 2, 4, 8, 16) if 0.90 + 0.003 * n >= best - SAME_AGREEMENT)


@pytest.mark.parametrize("gain", [1.02, 1.2])
def test_out_of_reach_more_float_nodes_at_the_same_agreement_are_not_kept_for_their_timing(gain):
    """Side-by-side timing moves a lot between near-identical files (a four-node model: one candidate read 1.17x
    and 1.73x in two runs): at the same agreement the fewest float nodes, whatever the timing said."""
    search = _search(0.9184)
    kept = keep_in_float(RANKED, lambda kept: 0.9184, search, 60,
                         lambda kept: 1.5 * (gain if len(kept) == 8 else 1.0), plain_speedup=1.5)
    assert kept == [] and search.speedup == 1.5, search.tried


@pytest.mark.parametrize("faster_with_more", [False, True])
def test_a_reached_target_takes_the_fastest_candidate_that_reaches_it(faster_with_more):
    search = _search(0.93)
    speed = (lambda kept: 1.2 + 0.01 * len(kept)) if faster_with_more else (lambda kept: 1.5 - 0.01 * len(kept))
    kept = keep_in_float(RANKED, lambda kept: 0.93 + 0.005 * len(kept), search, 60, speed, plain_speedup=1.5)
    assert search.stopped == "target met" and 0.93 + 0.005 * len(kept) >= 0.95
    reached = [t for t in search.tried if t["agreement"] >= 0.95]
    assert len(kept) == max(reached, key=lambda t: (t["speedup"], -t["kept"]))["kept"]
    assert search.speedup == speed(kept)
