"""The shape of ground truth: one `Sample` per image with the right answer of one kind, and the `LabelledSet`
they form. Images are paths that core.images.load_rgb reads (`page.png#rot90` included), so the run's input set,
the benchmark and a deploy bundle read them as they read photos."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

# What a truth says of one sample, by the model's task:
#   classes: the class index (classification)
#   boxes:   boxes with a class each, xyxy in the image's own pixels (detection; a text detector's lines)
#   masks:   a PNG of class indices at the image's own size, 255 = ignore (segmentation)
#   texts:   the string the image shows (text recognition)
KINDS = ("classes", "boxes", "masks", "texts")
IGNORE = 255  # a mask pixel that no class is scored on


@dataclass(frozen=True)
class Sample:
    image: str
    label: int | None = None
    boxes: tuple[tuple[float, float, float, float], ...] | None = None
    box_labels: tuple[int, ...] | None = None
    mask: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class LabelledSet:
    kind: str  # one of KINDS
    source: str  # where the truth came from, in words: "documents rendered here (seed 0)", "input.labels=..."
    samples: tuple[Sample, ...]
    classes: tuple[str, ...] = ()  # class names by index (classes, boxes, masks)
    details: dict = field(default_factory=dict)  # what made it (renderer settings, file format), for the record

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r} is not allowed; allowed: {', '.join(KINDS)}")

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def images(self) -> list[str]:
        return [s.image for s in self.samples]

    def digest(self) -> str:
        """Of every sample's truth and its image file's bytes: two runs judged on the same digest saw the same."""
        h = hashlib.sha256(json.dumps([self.kind, list(self.classes)]).encode())
        for sample in self.samples:
            h.update(json.dumps(asdict(sample), sort_keys=True, default=list).encode())
            h.update(Path(sample.image.split("#rot")[0]).read_bytes())
            if sample.mask:
                h.update(Path(sample.mask).read_bytes())
        return h.hexdigest()[:16]

    def record(self) -> dict:
        """What results.json says of it (the samples themselves are listed by the input set)."""
        return {"kind": self.kind, "source": self.source, "samples": len(self.samples),
                "classes": len(self.classes), "digest": self.digest(), **({"details": self.details}
                                                                           if self.details else {})}

    def subset(self, indices) -> LabelledSet:
        return LabelledSet(self.kind, self.source, tuple(self.samples[i] for i in indices), self.classes,
                           self.details)
