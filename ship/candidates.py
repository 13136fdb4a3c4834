"""The candidates a selection ranks: one row (pipeline.decision.Candidate) per benchmarked artifact of a run's results,
with every measured axis; the installed size of each runtime comes from bench.footprint unless the row already
carries it."""
from __future__ import annotations

from collections.abc import Callable

import runtimes
from pipeline.decision import Candidate
from pipeline.results import RunResults

TRUTH_JUDGES = "judged against the truth"  # pipeline.checks: the floor's waiver where a truth judges


def candidate_rows(results: RunResults, job: str | None = None,
                   footprint: Callable[[str], dict] | None = None) -> list[Candidate]:
    """One row per benchmarked artifact (failed ones too: reported, never picked). Throughput is the best
    images/s of the latency row and of the batch sizes it was also measured at (bench row `throughput`);
    installed size from the row's `footprint`, else measured here (bench.footprint)."""
    if footprint is None:
        from bench.footprint import runtime_footprint as footprint
    has_task = results.has_task()
    task_kind = next((p.task.task for p in results.parity if p.task), None)
    rows = []
    for bench in results.bench:
        name = bench.artifact
        artifact = results.artifact(name)
        row = {"id": f"{job}/{name}" if job else name, "job": job, "artifact": name,
               "runtime": bench.runtime or (runtimes.for_format(artifact.format).name if artifact else None),
               "format": artifact.format if artifact else None,
               "precision": bench.precision or (artifact.precision if artifact else None),
               "executed_precision": bench.executed_precision, "version": bench.version,
               "sha256": artifact.sha256 if artifact else None, "path": artifact.path if artifact else None,
               "batch": bench.batch, "artifact_mb": _mb(artifact.bytes if artifact else None),
               "reused_from": bench.reused_from, "noisy": bench.noisy, "task": None, "weights": results.weights}
        if not bench.ok:
            rows.append(Candidate(**row, status="failed", error=bench.error or "benchmark failed"))
            continue
        check = results.parity_of(name)
        if check is None:  # the reference itself: it agrees with itself by definition
            agreement, error, passed = (1.0 if has_task else None), 0.0, True
        else:
            agreement, error, passed = check.agreement, check.worst_abs(), check.passed
            row["task"] = check.task.task if check.task else None
            # validate.task.min_agreement: never shipped below it, except where a truth judges (its accuracy decides)
            row["floor"] = check.task.min_agreement if check.task and check.task.waived != TRUTH_JUDGES else None
        accuracy = results.accuracy_of(name)
        if accuracy is not None:  # against the ground truth, with the drop's interval (pipeline.results.Accuracy)
            row.update(accuracy=accuracy.value, accuracy_metric=accuracy.metric, accuracy_drop=accuracy.drop,
                       accuracy_low=accuracy.low, accuracy_high=accuracy.high,
                       accuracy_distinguishable=accuracy.distinguishable,
                       accuracy_higher_is_better=accuracy.higher_is_better)
        foot = bench.footprint.model_dump() if bench.footprint else (
            footprint(row["runtime"]) if row["runtime"] in runtimes.NAMES else {})
        installed = foot.get("installed_mb")
        measured = [(bench.throughput_ips, bench.batch)] + [
            (t.images_per_s, t.batch) for t in bench.throughput or []
            if t.status == "ok" and t.images_per_s is not None]
        best_ips, best_batch = max(measured, key=lambda t: t[0] or 0.0)
        row.update(status="ok", median_ms=bench.infer_ms.median, p90_ms=bench.infer_ms.p90,
                   throughput_ips=best_ips, throughput_batch=best_batch, cold_start_s=bench.load_s,
                   peak_rss_mb=bench.peak_rss_mb, agreement=agreement, parity_error=error,
                   parity_passed=passed, installed_mb=installed,
                   runs_without_source=foot.get("runs_without_source"),
                   footprint_mb=_sum(installed, row["artifact_mb"]))
        # higher is better: accuracy against the truth where there is one, else agreement, else the parity error
        if accuracy is not None:
            row["quality"] = accuracy.value if accuracy.higher_is_better else -accuracy.value
        else:
            row["quality"] = agreement if has_task else (None if error is None else -error)
        row["task"] = row["task"] or task_kind
        rows.append(Candidate(**row))
    return rows


def _mb(value) -> float | None:
    return None if value is None else value / 2**20


def _sum(a, b):
    return None if a is None or b is None else a + b


def unique(rows: list[Candidate]) -> list[Candidate]:
    """A sweep measures an identical artifact in several jobs (or reuses the measurement): keep it once."""
    seen, out = set(), []
    for row in rows:
        key = (row.sha256, row.runtime, row.executed_precision, row.batch)
        if row.sha256 and key in seen:
            continue
        seen.add(key)
        out.append(row)
    return out
