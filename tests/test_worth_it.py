"""Accuracy-aware int8 weighs time: each candidate of the search is timed side by side with the float model, and an
int8 artifact that is not `min_speedup` times as fast as its runtime's fp32 is n/a ("not worth it"), not offered."""
from converters.int8.search import SAME_AGREEMENT
from tests.test_tflite_int8 import tiny_segmenter


def segmenter_at_int8(convert, tmp_path, *overrides: str):
    """tiny_segmenter's file through the OpenVINO graph at int8: a file's weights, so accuracy_aware=auto searches."""
    path = tmp_path / "segmenter.onnx"
    tiny_segmenter(path)
    return convert("+graph=openvino", "model=onnx", f"model.path={path}", "model.task=segmentation",
                   "+model.postprocess={threshold:0.5}", "precision=int8", "bench.enabled=false",
                   "graph.steps.onnx_lowp.target=0.999", *overrides)


def test_int8_that_does_not_pay_is_not_offered_and_the_reason_says_so(convert, tmp_path):
    # ONNX Runtime must be 1000x as fast as its fp32 (it cannot be); OpenVINO is offered whatever its speed (0), and
    # says the speed it measured.
    run = segmenter_at_int8(convert, tmp_path, "graph.steps.onnx_lowp.min_speedup=1000",
                            "graph.steps.openvino.min_speedup=0")
    assert run.returncode == 0, run.tail()  # n/a is no failure
    lowp = run.steps()["onnx_lowp"]
    assert lowp.status == "n/a" and lowp.reason.startswith("not worth it: ONNX Runtime int8"), lowp
    assert "below min_speedup=1000" in lowp.reason and "mean IoU" in lowp.reason
    assert "its profile (" in lowp.reason and "% converting int8<->float" in lowp.reason  # where its time went
    assert " ms of nodes per run against fp32's " in lowp.reason
    assert run.results.artifact("onnx_lowp") is None and run.results.parity_of("onnx_lowp") is None
    aware = run.artifact("openvino").meta["accuracy_aware"]
    assert aware["speedup"] > 0  # measured, and offered anyway at min_speedup=0
    assert run.parity("openvino").passed


def test_every_candidate_of_the_search_is_timed(convert, tmp_path):
    run = segmenter_at_int8(convert, tmp_path, "graph.steps.onnx_lowp.min_speedup=0", "~graph.steps.openvino")
    assert run.returncode == 0, run.tail()
    aware = run.artifact("onnx_lowp").meta["accuracy_aware"]
    assert aware["plain_agreement"] < 0.999 and aware["tried"], aware  # below the target: the search ran
    assert all(t["speedup"] > 0 for t in aware["tried"]), aware["tried"]
    # the artifact made is the fastest candidate that reaches the target, else the fastest within SAME_AGREEMENT of
    # the best agreement (none: everything int8, when no float node bought that much); its speed is the one the
    # search measured for it
    kept = len(aware["kept_in_float"])
    assert aware["speedup"] > 0
    if kept:
        assert aware["speedup"] == next(t["speedup"] for t in aware["tried"] if t["kept"] == kept)
    else:
        assert max(t["agreement"] for t in aware["tried"]) - aware["plain_agreement"] <= SAME_AGREEMENT + 1e-4
