"""Which images a run judges its artifacts on (with their truth, when it has one) and which it calibrates int8 on:
never the same ones, so that neither calibration nor an accuracy-aware search tunes on what is then graded.

- input.labels=PATH: the user's labelled images (truth/labels.py); calibration.images, else a held-apart share
  (calibration.holdout) of them.
- input.set=documents: pages rendered here with their truth (truth/documents.py); calibration on pages of another
  seed stream. A recognizer (truth of kind texts) is judged on the lines of fewer pages, one crop per line.
- photos: input.images (a held-apart share calibrates, unless calibration.images is given) or the photos that ship
  in installed packages (the other packaged images calibrate).
The split does not depend on the precision, so every job of a sweep is judged on the same samples.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.images import image_paths, images_digest, samples, split_rotation
from pipeline.schema import Config, Model
from truth.labelled_set import LabelledSet

SETS = ("photos", "documents")
DOCUMENT_PAGES = 32  # judged pages of input.set=documents when input.count does not say
DOCUMENT_CALIBRATION = 128  # calibration pages when calibration.count does not say
# Line crops (texts): pages whose lines are judged when input.count does not say (about 11 lines a page), and pages
# whose lines calibrate (at most calibration.count or DOCUMENT_CALIBRATION of them)
TEXT_PAGES, TEXT_CALIBRATION_PAGES = 8, 16
PHOTO_CALIBRATION = 20  # at most this many distinct photos calibrate when calibration.count does not say
# Images of scikit-image's wheel that the default input set does not judge: the packaged photos' calibration set.
CALIBRATION_PHOTOS = ("motorcycle_right.png", "hubble_deep_field.jpg", "ihc.png", "retina.jpg", "camera.png",
                      "coins.png", "moon.png", "page.png", "text.png", "brick.png", "grass.png", "gravel.png",
                      "clock_motion.png", "cell.png")
# The documents set renders truth of these kinds; the model's task decides which one it is judged on.
DOCUMENT_KINDS = {"boxes": "text lines (boxes)", "classes": "page rotation (0, 90, 180, 270)",
                  "texts": "the strings of line crops"}


@dataclass
class SampleSplit:
    judged: list[str]  # image paths ('page.png#rot90' allowed), in input-set order
    calibration: list[str]  # distinct images, none of them judged
    truth: LabelledSet | None = None  # the judged images' truth, same order
    record: dict = field(default_factory=dict)  # what results.json says of both splits


def truth_kind(processing: dict) -> str | None:
    """What kind of truth the model's outputs are judged against (truth.labelled_set.KINDS), from its task."""
    task = processing.get("task")
    if task == "classification":
        return "classes"
    if task == "detection":
        return "boxes"
    if task == "segmentation":
        return "boxes" if (processing.get("postprocess") or {}).get("text_boxes") else "masks"
    if task == "sequence":
        return "texts"
    return None


def class_names(model: Model) -> list[str] | None:
    """model.classes when it names the classes (a list), else None (it may be a count)."""
    return [str(c) for c in model.classes] if isinstance(model.classes, list) else None


def choose_samples(config: Config, processing: dict, sets_dir: Path) -> SampleSplit:
    """The run's judged and calibration samples; `sets_dir` holds rendered sets (in the cache when it is on)."""
    if config.input.labels:
        return _labelled(config, processing)
    if config.input.set == "documents":
        return _documents(config, processing, sets_dir)
    return _photos(config)


def _labelled(config: Config, processing: dict) -> SampleSplit:
    from truth.labels import load_labels

    given, calibrate = config.input, config.calibration
    where = f"input.labels={given.labels!r}"
    kind = truth_kind(processing)
    if kind is None:
        raise UserError(f"{where}: model.task={processing.get('task')!r} has no accuracy to judge against labels; "
                        "labels go with classification, detection, segmentation or sequence models")
    if given.rotations != [0]:
        raise UserError(f"input.rotations={given.rotations} turns photos and rendered pages; labelled images "
                        "are judged as they are: leave input.rotations at [0] with input.labels")
    truth = load_labels(given.labels, kind, class_names(config.model), given.images)
    if calibrate.images:
        judged, calibration = truth, _distinct(image_paths(calibrate.images), _calibration_count(config))
        how = f"calibration.images={calibrate.images!r}"
    else:
        held = _held_apart(len(truth), calibrate.holdout, config.seed)
        judged = truth.subset([i for i in range(len(truth)) if i not in held])
        calibration = [truth.samples[i].image for i in sorted(held) or range(len(truth))][: _calibration_count(config)]
        how = f"calibration.holdout={calibrate.holdout:g} of the labelled images, chosen by seed"
    if given.count:  # the first input.count of the judged samples, in the file's order
        judged = judged.subset(range(min(given.count, len(judged))))
    return _split(judged.images, calibration, judged, how)


def _documents(config: Config, processing: dict, sets_dir: Path) -> SampleSplit:
    kind = truth_kind(processing)
    if kind not in DOCUMENT_KINDS:
        raise UserError(f"input.set=documents has truth for {', '.join(DOCUMENT_KINDS.values())}; model "
                        f"{config.model.name} (task {processing.get('task')}) is judged on none of them: use "
                        "input.set=photos or input.labels")
    rotations, seed = tuple(config.input.rotations), config.seed
    pages = config.input.count or (TEXT_PAGES if kind == "texts" else DOCUMENT_PAGES)
    judged = _rendered(kind, sets_dir, pages, seed, "judge", rotations)
    names = class_names(config.model)
    if kind == "classes" and names is not None and list(judged.classes) != names:
        raise UserError(f"input.set=documents labels pages by rotation ({', '.join(judged.classes)}); "
                        f"model.classes={names} names other classes")
    calibrate = config.calibration
    if calibrate.images:
        calibration = _distinct(image_paths(calibrate.images), _calibration_count(config))
        how = f"calibration.images={calibrate.images!r}"
    elif kind == "texts":
        count = calibrate.count or DOCUMENT_CALIBRATION
        calibration = _rendered(kind, sets_dir, TEXT_CALIBRATION_PAGES, seed, "calibration", (0,)).images[:count]
        how = "lines of documents rendered from another seed stream than the judged pages"
    else:
        count = calibrate.count or DOCUMENT_CALIBRATION
        calibration = _rendered(kind, sets_dir, count, seed, "calibration", (0,)).images
        calibration = _spread_rotations(calibration, rotations)
        how = "documents rendered from another seed stream than the judged pages"
    return _split(judged.images, calibration, judged, how)


def _rendered(kind: str, sets_dir: Path, count: int, seed: int, split: str, rotations) -> LabelledSet:
    """A rendered split in its own folder, made once under a lock (two jobs of a sweep may ask at once)."""
    from filelock import FileLock

    from truth.document_sets import documents_set

    folder = sets_dir / f"documents-{split}-seed{seed}-{count}"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        return documents_set(kind, folder, count, seed, split, rotations)


def _photos(config: Config) -> SampleSplit:
    rotations, folder, calibrate = tuple(config.input.rotations), config.input.images, config.calibration
    if calibrate.images:
        return _split(samples(folder, rotations), _distinct(image_paths(calibrate.images),
                                                           _calibration_count(config)),
                      None, f"calibration.images={calibrate.images!r}")
    if folder:
        photos = image_paths(folder)
        held = _held_apart(len(photos), calibrate.holdout, config.seed)
        judged = [p for i, p in enumerate(photos) if i not in held]
        calibration = [photos[i] for i in sorted(held) or range(len(photos))][: _calibration_count(config)]
        return _split([_turned(p, r) for p in judged for r in rotations], [str(p) for p in calibration], None,
                      f"calibration.holdout={calibrate.holdout:g} of input.images, chosen by seed")
    from core.images import package_dir

    data = package_dir("skimage") / "data"
    extra = [data / name for name in CALIBRATION_PHOTOS if (data / name).is_file()]
    return _split(samples(None, rotations), _distinct(extra, _calibration_count(config)), None,
                  "packaged images the input set does not judge (scikit-image's other data images)")


def _turned(path: Path, degrees: int) -> str:
    return f"{path}#rot{degrees}" if degrees % 360 else str(path)


def _spread_rotations(images: list[str], rotations: tuple[int, ...]) -> list[str]:
    """Calibration pages turned like the judged ones, one rotation per page in turn (distinct pages throughout)."""
    return [_turned(Path(image), rotations[i % len(rotations)]) for i, image in enumerate(images)]


def _calibration_count(config: Config) -> int:
    return config.calibration.count or PHOTO_CALIBRATION


def _distinct(paths: list[Path], count: int) -> list[str]:
    return [str(p) for p in paths[:count]]


def _held_apart(count: int, share: float, seed: int) -> set[int]:
    """Indices of the samples set apart for calibration: a seeded choice of round(count * share), at least one while
    at least one is left to judge. None of one image: it then calibrates too (recorded as shared)."""
    if count < 2:
        return set()
    held = min(count - 1, max(1, round(count * share)))
    return set(np.random.default_rng(seed).permutation(count)[:held].tolist())


def _split(judged: list[str], calibration: list[str], truth: LabelledSet | None, how: str) -> SampleSplit:
    if not judged:
        raise UserError("the input set is empty: no image is left to judge")
    shared = sorted({split_rotation(p)[0] for p in judged} & {split_rotation(p)[0] for p in calibration})
    record = {"judged": {"count": len(judged), "digest": images_digest(judged)},
              "calibration": {"count": len(calibration), "how": how,
                              "digest": images_digest(calibration) if calibration else None,
                              "shared_with_judged": len(shared)}}
    if truth is not None:
        record["truth"] = truth.record()
    return SampleSplit(judged, calibration, truth, record)

