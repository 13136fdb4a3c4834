"""Boxes from a COCO instances JSON: `images` (id, file_name, optional width/height), `annotations` (image_id,
category_id, bbox as x, y, width, height in pixels, optional iscrowd) and `categories` (id, name).

Boxes become xyxy in the image's own pixels. A category becomes the model's class index by its name when the
model's class names are given, else its rank among the categories sorted by id. Crowd annotations (iscrowd=1)
are left out of the truth: a region of many objects has no one box to find; how many is said in `details`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from core.errors import UserError
from truth.label_files import image_size, refuse_duplicate, some
from truth.labelled_set import Sample

ALLOWED = "a COCO instances JSON with lists images, annotations and categories"


def coco_boxes(file: Path, classes: list[str] | None, images: str | None) -> tuple[list[Sample], list[str], dict]:
    data = _read(file)
    categories = _categories(file, data["categories"])
    names = list(classes) if classes else [categories[c] for c in sorted(categories)]
    base = Path(images) if images else file.parent
    order, seen = {}, {}
    for i, entry in enumerate(data["images"]):
        where = f"{file}: images[{i}]"
        image_id, name = _key(entry, "id", int, where), _key(entry, "file_name", str, where)
        if image_id in order:
            raise UserError(f"{where}: id {image_id} is already used by images[{order[image_id][0]}]; "
                            f"allowed: one entry per image id")
        path = base / name
        width, height = image_size(path, where, base)
        stated = (entry.get("width", width), entry.get("height", height))
        if stated != (width, height):
            raise UserError(f"{where}: width x height {stated[0]}x{stated[1]} in the JSON, but {name!r} is "
                            f"{width}x{height}; allowed: the image's own size (boxes are in its pixels)")
        refuse_duplicate(seen, path, where, f"images[{i}]")
        order[image_id] = (i, path)
    boxes = {image_id: [] for image_id in order}
    index = _class_index(file, categories, classes)
    crowd = 0
    for i, entry in enumerate(data["annotations"]):
        where = f"{file}: annotations[{i}]"
        image_id = _key(entry, "image_id", int, where)
        category = _key(entry, "category_id", int, where)
        box = _bbox(_key(entry, "bbox", list, where), where)
        if image_id not in order:
            raise UserError(f"{where}: image_id {image_id} is not in images; allowed: an id listed in images")
        if category not in categories:
            raise UserError(f"{where}: category_id {category} is not in categories; allowed: "
                            f"{some(str(c) for c in sorted(categories))}")
        if entry.get("iscrowd", 0):
            crowd += 1
            continue
        boxes[image_id].append((box, index(category, where)))
    samples = [Sample(str(path), boxes=tuple(b for b, _ in boxes[image_id]),
                      box_labels=tuple(c for _, c in boxes[image_id])) for image_id, (_, path) in order.items()]
    if samples and not any(s.boxes for s in samples):
        raise UserError(f"{file}: no box to find (every image is without annotations); allowed: {ALLOWED}")
    order_words = "the model's class names" if classes else "categories sorted by id"
    details = {"format": "COCO instances JSON", "class order": order_words, "boxes": sum(len(b) for b in
                                                                                          boxes.values()),
               "crowd annotations left out": crowd}
    return samples, names, details


def _read(file: Path) -> dict:
    if file.is_dir():
        raise UserError(f"{file}: is a folder; allowed: {ALLOWED}")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise UserError(f"{file}: not UTF-8 text ({error.reason} at byte {error.start}); allowed: {ALLOWED}") from error
    except json.JSONDecodeError as error:
        raise UserError(f"{file}: not JSON ({error.msg} at line {error.lineno} column {error.colno}); "
                        f"allowed: {ALLOWED}") from error
    if not isinstance(data, dict):
        raise UserError(f"{file}: not COCO: the JSON is a {type(data).__name__}, not an object; allowed: {ALLOWED}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            problem = "is missing" if key not in data else f"is a {type(data[key]).__name__}, not a list"
            raise UserError(f"{file}: not COCO: key {key!r} {problem}; allowed: {ALLOWED}")
    return data


def _key(entry, key: str, kind: type, where: str):
    if not isinstance(entry, dict):
        raise UserError(f"{where}: is a {type(entry).__name__}, not an object; allowed: {ALLOWED}")
    if key not in entry:
        raise UserError(f"{where}: key {key!r} is missing; allowed: {ALLOWED}")
    value = entry[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise UserError(f"{where}: {key}={value!r} is not a{'n' if kind is int else ''} {kind.__name__}")
    return value


def _categories(file: Path, entries: list) -> dict[int, str]:
    categories: dict[int, str] = {}
    for i, entry in enumerate(entries):
        where = f"{file}: categories[{i}]"
        category, name = _key(entry, "id", int, where), _key(entry, "name", str, where)
        if category in categories:
            raise UserError(f"{where}: id {category} is already used by {categories[category]!r}; allowed: one "
                            f"entry per category id")
        categories[category] = name
    return categories


def _class_index(file: Path, categories: dict[int, str], classes: list[str] | None):
    """category id -> the model's class index, refusing (at the first annotation that uses it) a category the
    model does not know."""
    if not classes:
        rank = {category: i for i, category in enumerate(sorted(categories))}
        return lambda category, where: rank[category]
    by_name = {name: i for i, name in enumerate(classes)}

    def index(category: int, where: str) -> int:
        name = categories[category]
        if name not in by_name:
            raise UserError(f"{where}: category {category} {name!r} is not one of the model's classes; allowed: "
                            f"{some(classes)}")
        return by_name[name]

    return index


def _bbox(value: list, where: str) -> tuple[float, float, float, float]:
    """[x, y, width, height] -> (x1, y1, x2, y2)."""
    if len(value) != 4 or not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                                  for v in value):
        raise UserError(f"{where}: bbox={value!r}; allowed: [x, y, width, height], four finite numbers")
    x, y, width, height = (float(v) for v in value)
    if width < 0 or height < 0:
        raise UserError(f"{where}: bbox={value!r} has a negative size; allowed: width >= 0 and height >= 0")
    return (x, y, x + width, y + height)
