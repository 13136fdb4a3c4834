"""What the accuracy-aware int8 steps did, for report.md and the end of the printed table: the agreement with
every node quantized, the nodes kept in float and the agreement they bought, and how long the search took."""
from __future__ import annotations

from pipeline.results import RunResults


def searches(results: RunResults) -> list[tuple[str, dict]]:
    """(artifact, its accuracy_aware meta) for every artifact an accuracy-aware step made."""
    return [(a.name, a.meta["accuracy_aware"]) for a in results.artifacts if a.meta.get("accuracy_aware")]


def no_search_note(results: RunResults) -> str | None:
    """Why an int8 run made no accuracy-aware search, when the reason is its random weights."""
    if results.weights == "random" and results.precision == "int8" and not searches(results):
        return ("No accuracy-aware search ran: the weights are random, and agreement on them says nothing about a "
                "trained model (accuracy_aware=auto searches only for trained weights).")
    return None


def summary_line(name: str, search: dict) -> str:
    """'openvino: mean IoU 0.818 with everything int8 -> 0.926 with 5 nodes in float (target 0.9, 181 s)'."""
    def fig(value):
        return "-" if value is None else f"{value:.3f}"

    kept = search.get("kept_in_float") or []
    reached = (f"{fig(search.get('agreement'))} with {len(kept)} node{'s' if len(kept) != 1 else ''} kept in float"
               if kept else "kept as is")
    return (f"{name}: {search['metric']} {fig(search.get('plain_agreement'))} with every node int8 -> {reached} "
            f"(target {search['target']:g}, {search['validation_samples']} samples, {search['seconds']:.0f} s; "
            f"{search['stopped']})")


def markdown(results: RunResults) -> list[str]:
    found = searches(results)
    if not found and no_search_note(results):
        return ["## Low precision", "", no_search_note(results), ""]
    if not found:
        return []
    lines = ["## Low precision: what the accuracy-aware steps kept in float", "",
             "Judged on the run's calibration samples (here the same photos parity runs on) against the float "
             "model; parity above then judges the artifact on the whole input set.", ""]
    for name, search in found:
        lines.append(f"- {summary_line(name, search)}")
        if search.get("recipe"):
            tried = ", ".join(f"{recipe} {value:.3f}" for recipe, value in search["recipes"].items())
            lines.append(f"  - recipe: {search['recipe']} (every node int8, by recipe: {tried})")
        if search.get("float_part"):
            lines.append(f"  - float layers run in {search['float_part']}: {search['float_part_why']}")
        if search.get("kept_in_float"):
            lines.append(f"  - kept in float: {', '.join(f'`{node}`' for node in search['kept_in_float'])}")
        if search.get("tried"):
            tried = ", ".join(f"{t['kept']} -> {t['agreement']:.3f}" for t in search["tried"])
            lines.append(f"  - tried (nodes in float -> agreement): {tried}")
    if results.weights == "random":
        lines += ["", "Weights are random here: what int8 keeps or loses on them says nothing about a trained model."]
    return [*lines, ""]
