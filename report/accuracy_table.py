"""Accuracy against the ground truth as people read it: a cell of the run's table, the accuracy table of report.md
and report.html, and where the judged and calibration samples came from."""
from __future__ import annotations

from pipeline.results import Accuracy, RunResults

HEADERS = ["artifact", "precision", "metric", "against the truth", "drop vs reference", "95% interval",
           "distinguishable from 0", "samples"]


def cell(entry: Accuracy | None) -> str:
    """The run table's cell: the value, and for a candidate its drop (+ = worse than the reference)."""
    if entry is None:
        return "-"
    if entry.artifact == entry.reference:
        return f"{entry.value:.3f}"
    return f"{entry.value:.3f} ({entry.drop:+.3f}{'!' if entry.distinguishable else ''})"


def rows(results: RunResults) -> list[list[str]]:
    out = []
    for entry in results.accuracy:
        artifact = results.artifact(entry.artifact)
        own = entry.artifact == entry.reference
        out.append([entry.artifact, artifact.precision if artifact else "-", entry.metric, f"{entry.value:.4f}",
                    "reference" if own else f"{entry.drop:+.4f}",
                    "-" if own else f"[{entry.low:+.4f}, {entry.high:+.4f}]",
                    "-" if own else ("yes" if entry.distinguishable else "no"), str(entry.samples)])
    return out


def truth_line(results: RunResults) -> str:
    """Where the truth came from and how big it is; '' without one."""
    truth = (results.samples or {}).get("truth")
    if not truth:
        return ""
    return f"truth: {truth['source']}: {truth['kind']}, {truth['samples']} samples judged, digest {truth['digest']}"


def samples_lines(results: RunResults) -> list[str]:
    """The judged and the calibration split, and whether they share an image (they should not)."""
    split = results.samples or {}
    if not split:
        return []
    judged, calibration = split.get("judged") or {}, split.get("calibration") or {}
    lines = [f"judged: {judged.get('count')} samples ({results.inputs.set or 'photos'})"]
    if results.calibration:
        shared = calibration.get("shared_with_judged") or 0
        lines.append(f"int8 calibration: {results.calibration.get('count')} samples, {calibration.get('how')}"
                     + (f"; {shared} of them also judged: too few images to hold any apart" if shared else
                        "; none of them judged"))
    line = truth_line(results)
    return [line, *lines] if line else lines


def footnote(results: RunResults) -> str:
    """What the table's accuracy column means, when it has one."""
    if not results.accuracy:
        return ""
    metric = results.accuracy[0].metric
    return (f"accuracy: {metric} against the ground truth ({truth_line(results).removeprefix('truth: ')}); in "
            "brackets the drop against the reference (+ = worse; ! = its 95% interval excludes 0); intervals in "
            "report.md")


def markdown(results: RunResults) -> list[str]:
    from tabulate import tabulate

    lines = samples_lines(results)
    if not results.accuracy:
        return ["## Samples", "", *[f"- {line}" for line in lines], ""] if lines else []
    return ["## Accuracy against the truth", "", *[f"- {line}" for line in lines], "",
            tabulate(rows(results), headers=HEADERS, tablefmt="github", disable_numparse=True), "",
            "Drop: the reference's value minus the artifact's (for a metric where lower is better, the other way "
            "round), with a paired-bootstrap 95% interval over the judged samples.", ""]
