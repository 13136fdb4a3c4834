"""What every labels format checks the same way: the file exists, each image it names exists and opens, no
image comes twice, a class is one the model knows. Each check fails with one line naming the file and entry."""
from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from core.images import IMAGE_SUFFIXES


def existing(path: str, what: str) -> Path:
    """The labels file or folder, refused in one line when missing."""
    found = Path(path)
    if not found.exists():
        raise UserError(f"labels: {path!r} does not exist; give the {what}")
    return found


def image_size(image: Path, where: str, base: Path | None = None) -> tuple[int, int]:
    """(width, height) from the file's header; `where` names the labels entry that points at it, `base` the
    folder its path was relative to."""
    from PIL import Image, UnidentifiedImageError

    if not image.is_file():
        relative = f" (relative to {str(base)!r}: input.images, else the labels file's folder)" if base else ""
        raise UserError(f"{where}: image {str(image)!r} does not exist; allowed: an existing image file{relative}")
    try:
        with Image.open(image) as opened:
            return opened.size
    except (UnidentifiedImageError, OSError) as error:
        raise UserError(f"{where}: {str(image)!r} is not an image Pillow can read ({error})") from error


def looks_like_image(name: str) -> bool:
    return Path(name.strip()).suffix.lower() in IMAGE_SUFFIXES


def refuse_duplicate(seen: dict[Path, str], image: Path, where: str, entry: str) -> None:
    """Remember the entry that named `image`; the same file named twice is refused (its truth would count
    twice). `where`: the file and entry for the message; `entry`: the entry alone, for a later duplicate's."""
    key = image.resolve()
    if key in seen:
        raise UserError(f"{where}: image {str(image)!r} is already labelled at {seen[key]}; allowed: each image once")
    seen[key] = entry


def some(names, limit: int = 8) -> str:
    """A list short enough for one line: the first few names and how many there are."""
    names = list(names)
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown}, ... ({len(names)} names)"


class ClassIndex:
    """A label (a class name, or an index) -> the model's class index.

    Names come first. An index is taken only when no class name is itself a number: with classes 0, 90, 180, 270
    the label "1" would otherwise silently mean "90"."""

    def __init__(self, classes: list[str] | tuple[str, ...] | None):
        self.classes = list(classes or [])
        self.by_name = {name: i for i, name in enumerate(self.classes)}
        self.numeric_names = any(is_index(name) for name in self.classes)

    def allowed(self) -> str:
        if not self.classes:
            return "a class index"
        if self.numeric_names:
            return f"one of the model's class names: {some(self.classes)}"
        return f"one of the model's class names ({some(self.classes)}) or an index 0..{len(self.classes) - 1}"

    def __call__(self, label: str, where: str) -> int:
        if label in self.by_name:
            return self.by_name[label]
        if is_index(label) and not self.numeric_names:
            index = int(label)
            if index < 0 or (self.classes and index >= len(self.classes)):
                raise UserError(f"{where}: class index {index} is out of range; allowed: {self.allowed()}")
            return index
        raise UserError(f"{where}: class {label!r} is unknown; allowed: {self.allowed()}")


def is_index(label: str) -> bool:
    """A label written as a whole number (negative ones included, to be refused as out of range)."""
    return label.lstrip("-").isdigit()
