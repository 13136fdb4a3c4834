"""Labels a user brings (`input.labels=PATH`), read into a LabelledSet of the kind the model's task needs.

classes: a folder with one sub-folder of images per class, or a CSV of `image,label` rows
boxes:   a COCO instances JSON (truth/coco_boxes.py)
masks:   a folder of PNG masks, one per image of `images` (truth/mask_folder.py)
texts:   a CSV of `image,text` rows

A CSV may start with a header row: a first row whose image has no image suffix (.jpg, .png, ...) is taken as
one. Its image paths are relative to `images` when given, else to the CSV's own folder. Every malformed entry is
refused with one line naming the file, the entry, what is wrong and what is allowed.
"""
from __future__ import annotations

import csv
from pathlib import Path

from core.errors import UserError
from core.images import IMAGE_SUFFIXES
from truth.coco_boxes import coco_boxes
from truth.label_files import ClassIndex, existing, image_size, is_index, looks_like_image, refuse_duplicate, some
from truth.labelled_set import KINDS, LabelledSet, Sample
from truth.mask_folder import mask_folder

KIND_BY_TASK = {"classification": "classes", "detection": "boxes", "segmentation": "masks", "sequence": "texts"}
FORMATS = {
    "classes": "a folder with one sub-folder of images per class, or a CSV of image,label rows",
    "boxes": "a COCO instances JSON (images, annotations, categories)",
    "masks": "a folder of PNG masks of class indices, one per image of input.images (same name, 255 = ignore)",
    "texts": "a CSV of image,text rows",
}


def load_labels(path: str, kind: str, classes: list[str] | None = None, images: str | None = None) -> LabelledSet:
    """The truth in `path` as a LabelledSet of `kind` (one of KINDS). `classes`: the model's class names by index
    (labels are matched to them by name); without them, classes are numbered as the format orders them.
    `images`: the folder image paths are relative to (required for masks)."""
    if kind not in KINDS:
        raise UserError(f"labels kind {kind!r} is unknown; allowed: {', '.join(KINDS)}")
    found = existing(path, FORMATS[kind])
    if kind == "classes":
        samples, names, details = class_folders(found, classes) if found.is_dir() else class_csv(found, classes,
                                                                                                 images)
    elif kind == "boxes":
        samples, names, details = coco_boxes(found, classes, images)
    elif kind == "masks":
        samples, names, details = mask_folder(found, classes, images)
    else:
        samples, names, details = text_csv(found, images)
    if not samples:
        raise UserError(f"labels {path!r} hold no labelled image; allowed: {FORMATS[kind]}")
    return LabelledSet(kind, f"input.labels={path}", tuple(samples), tuple(names), details)


def class_folders(root: Path, classes: list[str] | None) -> tuple[list[Sample], list[str], dict]:
    """One sub-folder per class. With the model's class names, every folder must be one of them; without, the
    classes are the sorted folder names (the torchvision ImageFolder order: "180" sorts before "90")."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise UserError(f"{root}: image {loose[0]!r} is outside a class folder; allowed: one sub-folder per class")
    if not folders:
        raise UserError(f"{root}: no class sub-folder; allowed: {FORMATS['classes']}")
    names = list(classes) if classes else [p.name for p in folders]
    index = {name: i for i, name in enumerate(names)}
    samples, skipped = [], 0
    for folder in folders:
        if folder.name not in index:
            raise UserError(f"{folder}: folder {folder.name!r} is not one of the model's classes; "
                            f"allowed: {some(names)}")
        for file in sorted(p for p in folder.iterdir() if p.is_file()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                skipped += 1
                continue
            image_size(file, str(folder))
            samples.append(Sample(str(file), label=index[folder.name]))
    order = "the model's class names" if classes else "sorted folder names"
    details = {"format": "class folders", "class order": order, **({"files skipped (not images)": skipped}
                                                                    if skipped else {})}
    return samples, names, details


def class_csv(file: Path, classes: list[str] | None, images: str | None) -> tuple[list[Sample], list[str], dict]:
    """`image,label` rows, a label being a class name or an index. Without the model's class names, labels are
    either all indices or all names (then numbered in sorted order)."""
    rows = csv_rows(file, "label", images)
    if classes:
        index = ClassIndex(classes)
        samples = [Sample(str(image), label=index(label, where)) for where, image, label in rows]
        return samples, list(classes), {"format": "CSV image,label", "class order": "the model's class names"}
    indices = rows and is_index(rows[0][2])
    for where, _, label in rows:
        if is_index(label) != indices:
            given = "indices" if indices else "names"
            raise UserError(f"{where}: label {label!r} mixes with the class {given} of the lines before; allowed: "
                            f"class names throughout or indices throughout")
    if indices:
        index = ClassIndex(None)
        return ([Sample(str(image), label=index(label, where)) for where, image, label in rows], [],
                {"format": "CSV image,label", "class order": "indices as given"})
    names = sorted({label for _, _, label in rows})
    number = {name: i for i, name in enumerate(names)}
    samples = [Sample(str(image), label=number[label]) for _, image, label in rows]
    return samples, names, {"format": "CSV image,label", "class order": "sorted label names"}


def text_csv(file: Path, images: str | None) -> tuple[list[Sample], list[str], dict]:
    rows = csv_rows(file, "text", images)
    if rows and not any(text for _, _, text in rows):
        raise UserError(f"{file}: every text is empty; allowed: the string each image shows")
    return [Sample(str(image), text=text) for _, image, text in rows], [], {"format": "CSV image,text"}


def csv_rows(file: Path, second: str, images: str | None) -> list[tuple[str, Path, str]]:
    """(where, image path, second column) per data row. Blank lines are skipped; a row with another number of
    columns, an image that does not open or an image named twice is refused. A text keeps its spaces, but for
    those right after the comma."""
    if file.is_dir():
        raise UserError(f"{file}: is a folder; allowed: a CSV file of image,{second} rows")
    base = Path(images) if images else file.parent
    try:
        lines = file.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    except UnicodeDecodeError as error:
        raise UserError(f"{file}: not UTF-8 text ({error.reason} at byte {error.start}); allowed: a CSV file of "
                        f"image,{second} rows") from error
    reader = csv.reader(lines, skipinitialspace=True)
    rows, seen, first = [], {}, True
    try:
        for row in reader:
            where = f"{file}: line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != 2:
                raise UserError(f"{where}: {len(row)} columns; allowed: 2 (image,{second})")
            name, value = row[0].strip(), row[1] if second == "text" else row[1].strip()
            header, first = first and not looks_like_image(name), False
            if header:
                continue
            image = base / name
            image_size(image, where, base)
            refuse_duplicate(seen, image, where, f"line {reader.line_num}")
            rows.append((where, image, value))
    except csv.Error as error:
        raise UserError(f"{file}: line {reader.line_num}: not CSV ({error}); allowed: image,{second} rows") from error
    return rows
