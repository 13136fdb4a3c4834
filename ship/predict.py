"""Run the bundled model: `python predict.py FILE...` prints one JSON object per sample.

FILE is an image (.jpg, .png, ...) for a model whose inputs are images, or an .npz (one array per input name,
samples along axis 0, dtypes and shapes as manifest.json lists them) for a model with other inputs; a model with
both takes one .npz (its non-image inputs) and one image per sample, in order.

This file is the `predict.py` of a deploy bundle (ship/deploy.py copies it there). It imports only what the
bundle ships next to it, which is the project's own code, copied verbatim:
  core/                 the image reader, feeding and pre/post-processing the benchmark timed (numpy, Pillow)
  runtimes/             the runtime adapters the benchmark measured through; only the runtime of the bundled
                        artifact is imported, when the artifact is loaded
and takes everything else from manifest.json (artifact file, inputs, runtime settings, preprocessing).

Classification: {"sample", "top_k": [{"class", "probability"}, ...]}; detection: {"sample", "boxes":
[{"xyxy": [x1, y1, x2, y2] in original-image pixels, "score", "class"}, ...]}; segmentation: {"sample",
"shape": [height, width], "class_pixels": {class: pixels}} at the original image's size; raw: {"sample", "outputs"}.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from core.artifact import Artifact
from core.feeds import Feed, check_data, make_inputs
from core.images import load_rgb
from core.masks import class_pixels
from core.prepost import Processing, postprocess
from runtimes import load
from runtimes.base import Settings, input_batch

HERE = Path(__file__).resolve().parent


class Bundle:
    def __init__(self, folder: Path = HERE):
        self.manifest = json.loads((folder / "manifest.json").read_text())
        record = self.manifest["artifact"]
        self.artifact = Artifact.from_dict({**record, "path": str(folder / record["path"])})
        self.runner = load(self.artifact, Settings(**self.manifest["runtime"]["settings"]))
        self.proc = Processing.from_config(self.manifest["processing"])
        self.feeds = [Feed(**{k: t[k] for k in ("name", "kind", "shape", "dtype")}, layout=t.get("layout", ""))
                      for t in self.manifest["inputs"]]
        self.batch = input_batch(self.artifact) or self.feeds[0].shape[0]
        self.outputs = [o["name"] for o in record["outputs"]]

    def predict(self, files: list[str]):
        """Yield one dict per sample, in order. The artifact's batch is fixed: the last chunk is padded with
        repeats of its last sample, whose results are dropped."""
        names, images, data = read_samples(self.feeds, files)
        for start in range(0, len(names), self.batch):
            rows = [min(i, len(names) - 1) for i in range(start, start + self.batch)]
            chunk_images = [images[i] for i in rows] if images else None
            chunk_data = {name: array[rows] for name, array in data.items()}
            inputs, meta = make_inputs(self.feeds, self.proc, chunk_images, chunk_data, self.runner.layouts)
            result = postprocess(self.runner(inputs), self.proc, meta)
            for i in range(min(self.batch, len(names) - start)):
                yield {"sample": names[start + i], **per_sample(result, i, self.outputs)}


def read_samples(feeds: list[Feed], files: list[str]) -> tuple[list[str], list[np.ndarray], dict[str, np.ndarray]]:
    """(sample names, photos, arrays by input name) from the command line's files."""
    images = [f for f in files if not f.endswith(".npz")]
    archives = [f for f in files if f.endswith(".npz")]
    wanted = [f for f in feeds if f.kind == "data"]
    wants_images = any(f.kind == "image" for f in feeds)
    if wants_images and not images:
        raise SystemExit("error: this model takes images: give .jpg/.png files")
    if not wanted:
        return images, [load_rgb(Path(p)) for p in images], {}
    if not archives or (wants_images and len(archives) != 1):
        raise SystemExit("error: this model takes arrays: give " + (
            "one .npz (its non-image inputs, one sample per image) and the images" if wants_images
            else ".npz files (one array per input name, samples along axis 0)"))
    parts: dict[str, list[np.ndarray]] = {f.name: [] for f in wanted}
    names: list[str] = []
    for archive in archives:
        with np.load(archive) as arrays:
            problems = check_data(feeds, {k: arrays[k] for k in arrays.files}, archive)
            if problems:
                raise SystemExit(f"error: {problems[0]}")
            for feed in wanted:
                parts[feed.name].append(arrays[feed.name])
            names += [f"{archive}#{i}" for i in range(len(arrays[wanted[0].name]))]
    data = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    if wants_images:
        if len(images) != len(names):
            raise SystemExit(f"error: {len(images)} images but {len(names)} samples in {archives[0]}")
        names = images
    return names, [load_rgb(Path(p)) for p in images], data


def per_sample(result: dict, i: int, names: list[str]) -> dict:
    """The i-th sample's share of a postprocess() result, as plain JSON types."""
    if "top_k" in result:
        return {"top_k": [{"class": int(c), "probability": float(p)}
                          for c, p in zip(result["top_k"][i], result["probs"][i], strict=True)]}
    if "boxes" in result:
        return {"boxes": [{"xyxy": [float(v) for v in box], "score": float(score), "class": int(cls)}
                          for box, score, cls in zip(result["boxes"][i], result["scores"][i],
                                                     result["classes"][i], strict=True)]}
    if "masks" in result:
        mask = result["masks"][i]
        return {"shape": list(mask.shape), "class_pixels": {str(k): v for k, v in class_pixels(mask).items()}}
    return {"outputs": {name: out[i].tolist() for name, out in zip(names, result["raw"], strict=True)}}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for answer in Bundle().predict(argv):
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
