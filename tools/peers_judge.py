"""The judge of tools/peers.py: every row's outputs scored as the run scored its artifacts (pipeline/checks.py).

With a ground truth (the run's judged split, made again by pipeline.splits.choose_samples and checked against
the run's digest) the score is validators.against_truth.score and the drop is accuracy_entry's against the run's
reference outputs. Without one (random weights on photos) the score is validators.task_metrics.task_agreement
with the reference's outputs, and the drop is 1 - agreement: agreement, not accuracy, and said so.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.feeds import feed_of
from core.images import load_rgb
from core.prepost import Processing
from core.samples import output_batch_axes, per_item
from pipeline.config import validate
from pipeline.inputs import stacked_calls
from pipeline.results import RunResults
from pipeline.splits import choose_samples
from validators.against_truth import accuracy_entry, score
from validators.task_metrics import task_agreement


@dataclass
class Verdict:
    metric: str
    value: float | None
    drop: float | None  # positive: worse than the run's reference
    error: str = ""


def read_npz(path: Path) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


class Judge:
    def __init__(self, results: RunResults, run_dir: Path):
        self.results, self.reference = results, results.reference_name()
        self.config = validate(results.config)  # the run's config, parsed as the run parsed it
        self.task = results.config["validate"]["task"]
        self.feeds = [feed_of(t) for t in results.inputs.tensors]
        self.names = [o.name for o in results.artifact(self.reference).outputs]
        self.reference_items = self.items(read_npz(run_dir / "parity" / f"{self.reference}.npz"))
        self.truth, self.placement = self._truth(run_dir)
        self.reference_scores = None if self.truth is None else score(
            self.reference_items, self.truth, results.processing, self.placement, self.task)

    def items(self, outputs: list[np.ndarray]) -> list[np.ndarray]:
        return per_item(outputs, output_batch_axes(self.names, None, {f.name: f.batch_axis for f in self.feeds}))

    def _truth(self, run_dir: Path):
        """The run's truth and each photo's placement, or (None, None) where the run judged on none."""
        if not self.results.accuracy:
            return None, None
        sets = Path(self.config.cache.dir) if self.config.cache.enabled else run_dir
        split = choose_samples(self.config, self.results.processing, sets / "sets")
        if split.record["judged"]["digest"] != (self.results.samples or {}).get("judged", {}).get("digest"):
            raise SystemExit(f"the judged samples made again differ from the run's ({run_dir}): cannot judge peers "
                             "on the same truth")
        proc = Processing.from_config(self.results.processing)
        images = [load_rgb(Path(p)) for p in self.results.inputs.images]
        _, placement = stacked_calls(self.feeds, proc, images, {}, self.results.inputs.samples)
        return split.truth, placement

    @property
    def metric(self) -> str:
        if self.reference_scores is not None:
            return f"{self.reference_scores.metric} vs truth"
        return f"{self.results.processing.get('task')} agreement with {self.reference} (no truth)"

    def __call__(self, name: str, outputs: list[np.ndarray]) -> Verdict:
        items = self.items(outputs)
        try:
            if self.reference_scores is None:
                task = task_agreement(self.reference_items, items, self.results.processing, self.task)
                if task is None:
                    return Verdict(self.metric, None, None, "outputs do not compare with the reference's")
                return Verdict(self.metric, task["agreement"], 1.0 - task["agreement"])
            scores = score(items, self.truth, self.results.processing, self.placement, self.task)
            entry = accuracy_entry(name, self.reference, self.reference_scores, scores, seed=self.config.seed)
            return Verdict(self.metric, entry["value"], entry["drop"])
        except (ValueError, IndexError) as error:  # outputs that lost their shape: the row says why
            return Verdict(self.metric, None, None, f"{type(error).__name__}: {error}".splitlines()[0])
