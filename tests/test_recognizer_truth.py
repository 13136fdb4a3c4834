"""A recognizer judged against the truth: `input.set=documents` gives a sequence model the rendered pages' line crops
with their strings (truth kind texts), calibration lines from another seed stream, and the decoded strings are
scored with the character error rate."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.errors import UserError
from pipeline.splits import choose_samples
from tests.conftest import parsed
from validators.against_truth import score


def _split(tmp_path: Path, *overrides: str):
    cfg = parsed("cache.enabled=false", "input.set=documents", *overrides, model="tiny_ctc")
    processing = {"task": "sequence", "postprocess": {"decode": "ctc"}}
    return choose_samples(cfg, processing, tmp_path / "sets")


def test_documents_give_a_recognizer_line_crops_with_their_strings(tmp_path):
    split = _split(tmp_path, "input.count=2", "calibration.count=10")
    truth = split.truth
    assert truth.kind == "texts" and len(truth) == len(split.judged) >= 6  # 3 to 25 lines a page
    assert all("/lines/" in image and image.endswith(".png") for image in split.judged)
    assert all(sample.text and sample.text.strip() == sample.text for sample in truth.samples)
    assert len(split.calibration) == 10 and not set(split.calibration) & set(split.judged)
    assert "calibration" in split.calibration[0] and split.record["calibration"]["shared_with_judged"] == 0
    with pytest.raises(UserError, match=r"^rotations=\[0, 90\] is not allowed for line crops; allowed: \[0\]$"):
        _split(tmp_path, "input.count=2", "input.rotations=[0,90]")


def spelled(texts: list[str], symbols: list[str], steps: int) -> np.ndarray:
    """[N, steps, C] scores whose CTC reading is each text: every character, a blank between two."""
    out = np.zeros((len(texts), steps, len(symbols)), np.float32)
    for n, text in enumerate(texts):
        path = [i for char in text for i in (symbols.index(char), 0)]
        assert len(path) <= steps
        out[n, np.arange(steps), [*path, *[0] * (steps - len(path))]] = 1.0
    return out


def test_the_decoded_strings_are_scored_against_the_truth(tmp_path):
    split = _split(tmp_path, "input.count=1")
    truth = split.truth
    symbols = ["<blank>", *sorted({c for s in truth.samples for c in s.text})]
    processing = {"task": "sequence", "size": [32, 128],
                  "postprocess": {"decode": "ctc", "blank": 0, "symbols": symbols}}
    texts = [s.text for s in truth.samples]
    steps = 2 * max(map(len, texts))
    perfect = score([spelled(texts, symbols, steps)], truth, processing, None, {})
    assert perfect.metric == "character accuracy" and perfect.value == 1.0 and perfect.extras["CER"] == 0.0
    one_wrong = [texts[0][:-1], *texts[1:]]  # the first line's last character not read
    scored = score([spelled(one_wrong, symbols, steps)], truth, processing, None, {})
    chars = sum(map(len, texts))
    assert scored.extras["CER"] == pytest.approx(1 / chars) and scored.extras["exact match"] == pytest.approx(
        (len(texts) - 1) / len(texts))
    undecoded = {"task": "sequence", "size": [32, 128]}
    with pytest.raises(ValueError, match="is judged against strings when it decodes them"):
        score([spelled(texts, symbols, steps)], truth, undecoded, None, {})
