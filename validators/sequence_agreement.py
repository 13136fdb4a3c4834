"""Task parity of a sequence model ([N, T, C] scores per step, e.g. a text recognizer): does the candidate read what
the reference reads?

Both sides go through the deploy postprocess (core.sequences). Always: the share of steps whose best class is the
reference's. With CTC decoding: the share of samples whose decoded string is exactly the reference's (the headline:
a recognizer is right when it reads the same string) and the character error rate against the reference's strings,
with a few of the strings side by side, those that differ first.
"""
from __future__ import annotations

import numpy as np

from core.prepost import Processing
from core.sequences import read, spell
from validators.text_accuracy import edit_counts, error_rate

SHOWN = 3  # decoded strings kept per artifact for the report


def sequence_agreement(ref_scores: np.ndarray, cand_scores: np.ndarray, proc: Processing) -> dict:
    """{agreement, step_agreement, steps, samples} and with decoding {exact_match, cer, decoded: [{reference,
    candidate}, ...]}. `agreement` is the exact match when the model decodes, else the step agreement."""
    ref = read(ref_scores, proc.decode, proc.blank, proc.symbols)
    cand = read(cand_scores, proc.decode, proc.blank, proc.symbols)
    steps = float(np.mean(ref["indices"] == cand["indices"]))
    result = {"task": "sequence", "agreement": steps, "step_agreement": steps,
              "steps": int(ref["indices"].shape[1]), "samples": int(ref["indices"].shape[0])}
    if not proc.decode:
        return result
    edits, lengths, exact = edit_counts(ref["sequences"], cand["sequences"])
    # the reference read nothing at all (random weights may): every class the candidate reads is one error
    cer = error_rate(edits, lengths) if lengths.sum() else float(edits.sum())
    order = sorted(range(len(exact)), key=lambda i: (bool(exact[i]), i))[:SHOWN]
    shown = [{"reference": spell(ref["sequences"][i], proc.symbols),
              "candidate": spell(cand["sequences"][i], proc.symbols), "edits": int(edits[i])} for i in order]
    return {**result, "agreement": float(exact.mean()), "exact_match": float(exact.mean()), "cer": cer,
            "decode": proc.decode, "decoded": shown}


def describe_sequence(task: dict) -> str:
    """'strings 95.0% the same, CER 0.012 (steps 99.1%)' or 'steps 99.1% the same class'."""
    if "exact_match" in task:
        return (f"strings {task['exact_match']:.1%} the same, CER {task['cer']:.3f} "
                f"(steps {task['step_agreement']:.1%})")
    return f"steps {task['step_agreement']:.1%} the same class"
