"""Sequence outputs [N, T, C] judged as sequences: the best class per step, CTC decoding (repeats collapsed, blanks
dropped) into strings through a vocabulary, task parity on the strings read (exact match and CER), a line fed as
PaddleOCR feeds it, and the one-line answers to a vocabulary, blank or decoder that cannot be right."""
from __future__ import annotations

import numpy as np
import pytest

from core.errors import UserError
from core.prepost import Processing, postprocess, preprocess
from core.sequences import ctc_decode, fit_height
from pipeline.config import validate
from pipeline.results import TaskAgreement
from pipeline.vocabulary import with_vocabulary
from report.run_report import task_cell
from tests.conftest import composed
from validators.task_metrics import describe, task_agreement

SYMBOLS = ("-", "a", "b", "c")
PROCESSING = {"task": "sequence", "size": [32, 64], "postprocess": {"decode": "ctc", "blank": 0,
                                                                     "symbols": list(SYMBOLS)}}


def scores(paths: list[list[int]], classes: int = 4, margin: float = 5.0) -> np.ndarray:
    """[N, T, C] log-probabilities whose best class per step is `paths[n][t]`."""
    out = np.zeros((len(paths), len(paths[0]), classes), np.float32)
    for n, path in enumerate(paths):
        out[n, np.arange(len(path)), path] = margin
    return out - np.log(np.exp(out).sum(axis=2, keepdims=True))


def test_ctc_collapses_repeats_drops_blanks_and_keeps_a_letter_repeated_across_a_blank():
    assert ctc_decode(np.array([[1, 1, 0, 1, 2, 2, 0, 0, 3], [0, 0, 0, 0, 0, 0, 0, 0, 0]]), blank=0) == \
        [(1, 1, 2, 3), ()]
    assert ctc_decode(np.array([[3, 3, 1, 3]]), blank=3) == [(1,)]
    read = postprocess([scores([[1, 1, 0, 1, 2, 2, 0, 3]])], Processing.from_config(PROCESSING))
    assert read["texts"] == ["aabc"] and read["sequences"] == [(1, 1, 2, 3)]
    assert read["indices"].tolist() == [[1, 1, 0, 1, 2, 2, 0, 3]]


def test_without_a_decoder_the_steps_are_the_result_and_the_headline():
    proc = {"task": "sequence", "size": [32, 64]}
    assert set(postprocess([scores([[1, 2]])], Processing.from_config(proc))) == {"indices"}
    ref, cand = scores([[1, 2, 3, 0], [1, 1, 1, 1]]), scores([[1, 2, 3, 1], [1, 1, 1, 1]])
    task = task_agreement([ref], [cand], proc, {"min_agreement": {"sequence": {"fp32": 0.9}}}, "fp32")
    assert task["agreement"] == task["step_agreement"] == 7 / 8 and not task["passed"]
    assert "cer" not in task and describe(task) == "steps 87.5% the same class"


def test_a_recognizer_is_right_when_it_reads_the_same_string_whatever_its_numbers():
    ref = scores([[1, 1, 0, 2, 3], [3, 0, 3, 0, 0], [2, 2, 2, 2, 2]])
    # the same strings from other steps and other scores: a step moved inside a run, margins far off the reference's
    same = scores([[1, 0, 0, 2, 3], [3, 3, 0, 3, 3], [0, 2, 2, 0, 0]], margin=2.0)
    task = task_agreement([ref], [same], PROCESSING, {"min_agreement": {"sequence": {"fp16": 0.9}}}, "fp16")
    assert task["agreement"] == task["exact_match"] == 1.0 and task["cer"] == 0.0 and task["passed"]
    assert task["step_agreement"] < 0.7  # a classifier's view of the flattened steps would fail it
    other = scores([[1, 1, 0, 2, 2], [3, 0, 3, 0, 0], [1, 1, 1, 1, 1]])
    task = task_agreement([ref], [other], PROCESSING, {"min_agreement": {"sequence": {"fp16": 0.9}}}, "fp16")
    assert task["exact_match"] == pytest.approx(1 / 3) and not task["passed"]
    assert task["cer"] == pytest.approx(2 / 6)  # "abc" -> "ab" and "b" -> "a": 1 edit each, over 3 + 2 + 1 chars
    assert task["decoded"][:2] == [{"reference": "abc", "candidate": "ab", "edits": 1},
                                   {"reference": "b", "candidate": "a", "edits": 1}]  # those that differ first
    assert describe(task) == "strings 33.3% the same, CER 0.333 (steps 60.0%)"
    cell = task_cell(TaskAgreement(**{k: v for k, v in task.items()}))
    assert cell == "strings 33%, CER 0.333"


def test_a_line_is_fed_at_the_input_height_and_padded_with_zero_on_the_right():
    line = np.full((20, 100, 3), 255, np.uint8)  # white, 5:1
    canvas, filled = fit_height(line, (32, 256))
    assert canvas.shape == (32, 256, 3) and filled == 160
    wide = np.full((10, 1000, 3), 255, np.uint8)
    assert fit_height(wide, (32, 256))[1] == 256  # never wider than the input: squeezed
    proc = Processing(task="sequence", size=(32, 256), mean=(0.5,), std=(0.5,), channels="GRAY")
    batch = preprocess([line], proc)
    assert batch.shape == (1, 1, 32, 256)
    assert np.allclose(batch[0, 0, :, :160], 1.0) and not batch[0, 0, :, 160:].any()  # white; then 0 (PaddleOCR)


def _checked(*overrides: str, model: str = "tiny_ctc") -> dict:
    from pipeline.inputs import processing_config

    model = validate(composed("cache.enabled=false", *overrides, model=model)).model
    return with_vocabulary(model, processing_config(model, []))


def test_the_vocabulary_becomes_the_processings_symbols():
    processing = _checked()
    assert processing["postprocess"]["symbols"] == ["<blank>", *"0123456789"]
    assert processing["postprocess"]["decode"] == "ctc"


def test_a_vocabulary_blank_or_decoder_that_cannot_be_right_is_one_line(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("<blank>\na\nb\n")
    with pytest.raises(UserError) as caught:
        _checked(f"model.vocabulary={short}")
    assert str(caught.value) == (f"model.vocabulary={str(short)!r} gives 3 symbols, the output has 11 classes; give "
                                 "one symbol per class (the blank's included)")
    with pytest.raises(UserError) as caught:
        _checked("model.postprocess.blank=11")
    assert str(caught.value) == "model.postprocess.blank=11 is not a class of the output (11 classes); allowed: 0..10"
    with pytest.raises(UserError) as caught:
        _checked("model.postprocess.decode=beam")
    assert str(caught.value) == ("model.postprocess.decode='beam' is not allowed; allowed: ctc (or null: the best "
                                 "class per step, undecoded)")
    with pytest.raises(UserError, match=r"^model.vocabulary='/no/such.txt': no such file; give a text file"):
        _checked("model.vocabulary=/no/such.txt")
    with pytest.raises(UserError, match=r"^model.vocabulary='metadata:character' reads an ONNX file's metadata; "):
        _checked("model.vocabulary=metadata:character")


def test_the_vocabulary_reads_spaces_and_a_last_line_without_newline(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("<blank>\r\n \nx\ny", encoding="utf-8")
    assert _checked(f"model.vocabulary={path}", "model.classes=4")["postprocess"]["symbols"] == \
        ["<blank>", " ", "x", "y"]


def test_a_sequence_task_on_a_file_reads_its_output_classes(tmp_path):
    """An ONNX file's [N, T, C] output gives C; a file whose output is not [N, T, C] is refused in one line."""
    import onnx
    from onnx import TensorProto, helper

    def model(path, out_shape, metadata=None):
        graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "seq",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, out_shape)],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)])
        made = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        for key, value in (metadata or {}).items():
            made.metadata_props.add(key=key, value=value)
        onnx.save(made, str(path))
        return path

    good = model(tmp_path / "good.onnx", [1, 5, 4], {"character": "a\nb"})
    on_file = ["model.task=sequence", f"model.path={good}", "+model.vocabulary=metadata:character",
               "+model.vocabulary_first=['<blank>']", "+model.vocabulary_last=[' ']", "+model.postprocess.decode=ctc"]
    assert _checked(*on_file, model="onnx")["postprocess"]["symbols"] == ["<blank>", "a", "b", " "]
    with pytest.raises(UserError) as caught:
        _checked(*on_file[:2], "+model.vocabulary=metadata:chars", "+model.postprocess.decode=ctc", model="onnx")
    assert str(caught.value) == "model.vocabulary='metadata:chars': the model file has no metadata 'chars'; it has: " \
                                "character"
    flat = model(tmp_path / "flat.onnx", [1, 4])
    with pytest.raises(UserError) as caught:
        _checked("model.task=sequence", f"model.path={flat}", "+model.postprocess.decode=ctc", model="onnx")
    assert str(caught.value) == "model.task=sequence reads an output [N, T, C]; the model's output 'y' is [1, 4]"
