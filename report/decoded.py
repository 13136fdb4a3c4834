"""The strings a sequence model read, per artifact beside the reference's: what report.md shows of a recognizer
(validators/sequence_agreement.py keeps a few per artifact, those that differ first)."""
from __future__ import annotations

from pipeline.results import RunResults

HEADERS = ["artifact", "CER vs reference", "the reference reads", "the artifact reads", "edits"]


def _cell(text: str) -> str:
    """A string as a markdown table cell shows it: pipes escaped, spaces at its ends visible."""
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else "(nothing)"


def rows(results: RunResults) -> list[list[str]]:
    out = []
    for check in results.parity:
        task = check.task
        if task is None or task.task != "sequence":
            continue
        for shown in getattr(task, "decoded", None) or []:
            out.append([check.artifact, f"{task.cer:.4f}", _cell(shown["reference"]), _cell(shown["candidate"]),
                        str(shown["edits"])])
    return out


def markdown(results: RunResults) -> list[str]:
    from tabulate import tabulate

    found = rows(results)
    if not found:
        return []
    return ["## Strings read", "", "A few decoded strings of each artifact beside the reference's (those that differ "
            "first); CER: character edits over the reference's characters, all samples.", "",
            tabulate(found, headers=HEADERS, tablefmt="github", disable_numparse=True), ""]
