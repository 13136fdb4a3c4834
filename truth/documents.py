"""Document pages rendered here with exact truth: lines of made-up text drawn by Pillow in real fonts (the DejaVu
and STIX faces matplotlib ships), on paper-like or photo backgrounds, each line's and word's box known.

A box is the ink's bounding box in page pixels (xyxy, right and bottom exclusive): the pixels the glyphs touched,
anti-aliased edges included. Pillow's textbbox is not that: it starts at the pen position and ends at the
baseline even for a dash, so each word is drawn into an ink mask and its box read back from the mask.

Every page is drawn from its own random stream (split, seed, page number): page i is the same whatever the count,
and the splits never share a page. A folder is written page by page (each file renamed into place) and its
index last, so a killed render is never reused; a folder whose index names the same parameters is reused as is.
"""
from __future__ import annotations

import importlib.util
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.images import packaged_image_paths
from truth.words import RunningText

RENDERER = 1  # bump when the drawing changes: an index of another version is rendered again
INDEX = "index.json"
SPLITS = {"judge": 0, "calibration": 1}  # the first number of each page's random stream: no page is in both
FACES = {"sans": "DejaVuSans.ttf", "sans-bold": "DejaVuSans-Bold.ttf", "serif": "DejaVuSerif.ttf",
         "serif-bold": "DejaVuSerif-Bold.ttf", "serif-italic": "DejaVuSerif-Italic.ttf", "mono": "DejaVuSansMono.ttf",
         "stix": "STIXGeneral.ttf", "stix-bold": "STIXGeneralBol.ttf"}


@dataclass(frozen=True)
class Settings:
    """What pages may look like: each page draws its own values from these ranges (inclusive)."""

    width: tuple[int, int] = (560, 960)
    height: tuple[int, int] = (560, 1024)
    font_size: tuple[int, int] = (16, 40)  # pixels (the em size)
    lines: tuple[int, int] = (3, 25)
    photo_share: float = 0.3  # pages drawn on a lightened photo rather than paper


DEFAULT_SETTINGS = Settings()


@dataclass(frozen=True)
class Word:
    text: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class Line:
    text: str
    box: tuple[int, int, int, int]
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Page:
    path: Path
    width: int
    height: int
    lines: tuple[Line, ...]
    style: dict = field(default_factory=dict)  # face, size, columns, background: what the page drew

    def record(self) -> dict:
        return {"file": self.path.name, "width": self.width, "height": self.height, "style": self.style,
                "lines": [asdict(line) for line in self.lines]}

    @classmethod
    def from_record(cls, folder: Path, record: dict) -> Page:
        lines = tuple(Line(line["text"], tuple(line["box"]), tuple(Word(w["text"], tuple(w["box"]))
                                                                   for w in line["words"]))
                      for line in record["lines"])
        return cls(folder / record["file"], record["width"], record["height"], lines, record["style"])


def fonts_dir() -> Path:
    """matplotlib's bundled TTFs, located without importing matplotlib."""
    spec = importlib.util.find_spec("matplotlib")
    folder = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" if spec and spec.origin else None
    if folder is None or not all((folder / name).is_file() for name in FACES.values()):
        raise UserError("rendered documents need matplotlib's fonts (mpl-data/fonts/ttf); install matplotlib")
    return folder


@lru_cache(maxsize=256)
def font(face: str, size: int):
    from PIL import ImageFont

    # BASIC layout: the same glyph positions whether or not libraqm is installed
    return ImageFont.truetype(str(fonts_dir() / FACES[face]), size, layout_engine=ImageFont.Layout.BASIC)


def render_pages(folder: Path, count: int, seed: int, split: str = "judge",
                 settings: Settings = DEFAULT_SETTINGS) -> list[Page]:
    """`count` pages as PNG files in `folder` with their truth, listed in folder/index.json; reused when the folder
    already holds a complete index for the same parameters (and its first pages when only the count differs)."""
    if split not in SPLITS:
        raise UserError(f"split={split!r} is not allowed; allowed: {', '.join(SPLITS)}")
    if not isinstance(count, int) or count < 1:
        raise UserError(f"count={count!r} is not allowed; give a whole number of pages >= 1")
    folder = Path(folder)
    photos = packaged_image_paths()
    parameters = json.loads(json.dumps({"renderer": RENDERER, "seed": seed, "count": count, "split": split,
                                        "settings": asdict(settings),
                                        "photos": [[p.name, p.stat().st_size] for p in photos]}))  # as read back
    index = folder / INDEX
    known = read_index(index) or {"parameters": {}, "pages": []}
    # page i depends on (split, seed, i) alone: a complete index for another count lends its pages
    same = {**known["parameters"], "count": count} == parameters
    done = [Page.from_record(folder, record) for record in known["pages"][:count]] if same else []
    if same and known["parameters"]["count"] == count and all(page.path.is_file() for page in done):
        return done
    folder.mkdir(parents=True, exist_ok=True)
    index.unlink(missing_ok=True)  # from here until the new index is written, nothing here is reusable
    pages = [done[i] if i < len(done) and done[i].path.is_file() else
             _render(folder / f"page-{i:05d}.png", page_stream(split, seed, i), settings, photos) for i in range(count)]
    for stale in set(folder.glob("page-*.png")) - {page.path for page in pages}:
        stale.unlink()
    write_atomically(index, json.dumps({"parameters": parameters, "pages": [p.record() for p in pages]},
                                       indent=1).encode())
    return pages


def page_stream(split: str, seed: int, number: int) -> np.random.Generator:
    return np.random.default_rng([SPLITS[split], seed, number])


def read_index(index: Path) -> dict | None:
    try:
        return json.loads(index.read_text())
    except (OSError, ValueError):
        return None


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def _render(path: Path, rng: np.random.Generator, settings: Settings, photos: list[Path]) -> Page:
    page, _, lines, style = draw_page(rng, settings, photos)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    page.save(temporary, format="PNG", compress_level=1)  # level 1: most of the size at a fraction of the time
    os.replace(temporary, path)
    return Page(path, page.width, page.height, lines, style)


def draw_page(rng: np.random.Generator, settings: Settings, photos: list[Path]):
    """One page drawn from `rng`: (the RGB page, its ink mask (mode L: how much of the text colour each pixel
    took), its lines, what it drew)."""
    from PIL import Image

    width, height = (int(rng.integers(lo, hi + 1)) for lo, hi in (settings.width, settings.height))
    page, described = _background(rng, width, height, settings, photos)
    ink = Image.new("L", (width, height), 0)
    lines, style = _draw_lines(rng, ink, settings)
    colour = tuple(int(c) for c in rng.integers(0, 70, 3))
    for line in lines:  # the ink mask is the alpha of the text colour: anti-aliased as drawn
        page.paste(colour, line.box, ink.crop(line.box))
    return page, ink, tuple(lines), {**style, "background": described, "colour": list(colour)}


def _background(rng: np.random.Generator, width: int, height: int, settings: Settings, photos: list[Path]):
    """Off-white paper with a faint gradient, now and then mottled, or a region of a packaged photo, lightened so
    that dark text on it stays readable: (an RGB image, what it is)."""
    from PIL import Image

    if rng.random() < settings.photo_share:
        photo = photos[int(rng.integers(len(photos)))]
        region = _photo_region(rng, photo, width, height)
        keep = rng.uniform(0.2, 0.4)  # of the photo's darkness: 255 - (255 - pixel) * keep
        return Image.blend(region, Image.new("RGB", region.size, (255, 255, 255)), 1 - keep), f"photo {photo.name}"
    tint = rng.integers(232, 256, 3)
    along_y = rng.random() < 0.5
    ramp = np.linspace(0, rng.uniform(-18, 18), height if along_y else width, dtype=np.float32)
    shade = ramp[:, None] if along_y else ramp[None, :]
    if rng.random() < 0.5:  # mottling: noise drawn at an eighth of the size and smoothed up (fine grain would
        # make the PNG files several times larger and slower to write)
        coarse = rng.normal(128, rng.uniform(2, 5), (height // 8 + 1, width // 8 + 1)).clip(0, 255).astype(np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR), np.float32)
        shade = shade + (smooth - 128)
    shade = np.broadcast_to(shade, (height, width))
    paper = np.stack([(shade + level).clip(0, 255).astype(np.uint8) for level in tint.tolist()], axis=-1)
    return Image.fromarray(paper), "paper"


@lru_cache(maxsize=16)
def _photo(path: Path):
    from PIL import Image

    with Image.open(path) as image:
        return image.convert("RGB")


def _photo_region(rng: np.random.Generator, path: Path, width: int, height: int):
    from PIL import Image

    photo = _photo(path)
    share = rng.uniform(0.5, 1.0)
    w, h = max(8, int(photo.width * share)), max(8, int(photo.height * share))
    left, top = int(rng.integers(0, photo.width - w + 1)), int(rng.integers(0, photo.height - h + 1))
    return photo.crop((left, top, left + w, top + h)).resize((width, height), Image.BILINEAR)


def _draw_lines(rng: np.random.Generator, ink, settings: Settings) -> tuple[list[Line], dict]:
    """Lay out and draw the page's lines into the ink mask: an optional heading, then one or two columns of
    running text, ragged on the right, paragraphs ending in a short line."""
    width, height = ink.size
    face = list(FACES)[int(rng.integers(len(FACES)))]
    size = int(rng.integers(settings.font_size[0], settings.font_size[1] + 1))
    pitch = int(size * rng.uniform(1.35, 2.0))  # baseline to baseline: lines never touch
    margin_x, margin_y = int(width * rng.uniform(0.04, 0.12)), int(height * rng.uniform(0.04, 0.1))
    columns = 2 if width >= 700 and size <= 28 and rng.random() < 0.35 else 1
    gutter = max(3 * size, width // 20)
    column_width = (width - 2 * margin_x - (columns - 1) * gutter) // columns
    wanted = int(rng.integers(settings.lines[0], settings.lines[1] + 1))
    lines: list[Line] = []
    top = margin_y
    if rng.random() < 0.4:  # a heading, larger and bold, across the page
        heading = font("serif-bold" if face.startswith("serif") else "sans-bold", int(size * rng.uniform(1.3, 1.7)))
        title = RunningText(rng)
        line = _draw_line(ink, heading, title, margin_x, top, width - 2 * margin_x, int(rng.integers(2, 6)))
        if line:
            lines.append(line)
        top += int(heading.size * 2.2)
    rows = max(0, (height - margin_y - top - size) // pitch + 1)
    per_column = min(rows, -(-(wanted - len(lines)) // columns))
    body, text = font(face, size), RunningText(rng)
    for column in range(columns):
        left = margin_x + column * (column_width + gutter)
        for row in range(per_column):
            if len(lines) >= wanted:
                break
            short = rng.random() < 0.2  # a paragraph's last line
            room = int(column_width * (rng.uniform(0.2, 0.8) if short else 1.0))
            line = _draw_line(ink, body, text, left, top + row * pitch, room)
            if line:
                lines.append(line)
    return lines, {"face": face, "size": size, "columns": columns, "pitch": pitch}


def _draw_line(ink, typeface, text: RunningText, left: int, top: int, room: int, most: int = 1000) -> Line | None:
    """As many of the next words (at most `most`) as fit in `room` pixels, drawn one by one; each word's box is
    read from the ink it left in the mask. None when not even the first word fits (it stays for the next line)."""
    from PIL import ImageDraw

    draw = ImageDraw.Draw(ink)
    space = typeface.getlength(" ")
    x = float(left)
    placed: list[Word] = []
    while len(placed) < most:
        advance = typeface.getlength(text.peek())
        if x + advance > left + room:
            break
        where, word = (round(x), top), text.take()
        draw.text(where, word, font=typeface, fill=255)
        box = _ink_box(ink, draw.textbbox(where, word, font=typeface))
        if box:
            placed.append(Word(word, box))
        x += advance + space
    if not placed:
        return None
    boxes = np.array([w.box for w in placed])
    box = (int(boxes[:, 0].min()), int(boxes[:, 1].min()), int(boxes[:, 2].max()), int(boxes[:, 3].max()))
    return Line(" ".join(w.text for w in placed), box, tuple(placed))


def _ink_box(ink, loose) -> tuple[int, int, int, int] | None:
    """The word's ink: the mask's non-zero pixels within the layout box Pillow reports for it (which holds all of
    its ink but is looser)."""
    tight = ink.crop(loose).getbbox()
    if tight is None:
        return None
    return (loose[0] + tight[0], loose[1] + tight[1], loose[0] + tight[2], loose[1] + tight[3])
