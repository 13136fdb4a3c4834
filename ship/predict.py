"""Run the bundled model: `python predict.py FILE...` prints one JSON object per item.

FILE is an image (.jpg, .png, ...) for a model whose inputs are images, or an .npz for a model with other inputs:
one array per input name, [N, *the shape one call takes] (N samples, one call each; dtypes and shapes as
manifest.json lists them). A model with both takes one .npz (its non-image inputs) and, per sample, as many
images as one call takes, in order. A stateful model (manifest.json's runtime settings name its state) carries
its state from each call to the next, in the order given, starting from the first sample's state inputs.

This file is the `predict.py` of a deploy bundle (ship/deploy.py copies it there). It imports only what the
bundle ships next to it, which is the project's own code, copied verbatim:
  core/                 the image reader, feeding and pre/post-processing the benchmark timed (numpy, Pillow)
  runtimes/             the runtime adapters the benchmark measured through; only the runtime of the bundled
                        artifact is imported, when the artifact is loaded
and takes everything else from manifest.json (artifact file, inputs, runtime settings, preprocessing).

One item is an image, or a batch element of an .npz sample ("FILE#k", k counted over the file's samples).
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
from core.feeds import Feed, call_batch, check_data, feed_of, make_inputs
from core.images import load_rgb
from core.masks import class_pixels
from core.prepost import Processing, postprocess
from core.samples import output_batch_axes, per_item
from runtimes import load
from runtimes.base import Settings, for_runner

HERE = Path(__file__).resolve().parent


class Bundle:
    def __init__(self, folder: Path = HERE):
        self.manifest = json.loads((folder / "manifest.json").read_text())
        record = self.manifest["artifact"]
        self.artifact = Artifact.from_dict({**record, "path": str(folder / record["path"])})
        self.runner = load(self.artifact, Settings(**self.manifest["runtime"]["settings"]))
        self.proc = Processing.from_config(self.manifest["processing"])
        self.feeds = [feed_of(t) for t in self.manifest["inputs"]]
        self.outputs = [o["name"] for o in record["outputs"]]
        self.batch_axes = item_axes(self.manifest)

    def predict(self, files: list[str]):
        """Yield one dict per item, in order: one call per sample (a stateful model's state carried along)."""
        names, calls = make_calls(self.feeds, self.proc, files)
        per = call_batch(self.feeds)
        for i, (inputs, meta) in enumerate(calls):
            outputs = self.runner(for_runner(self.runner, inputs))
            yield from answers(outputs, meta, names[i * per : (i + 1) * per], self.proc, self.batch_axes,
                               self.outputs)


def item_axes(manifest: dict) -> list[int | None]:
    """Each output's batch axis (core.samples.output_batch_axes), from what the manifest says of the model."""
    names = [o["name"] for o in manifest["artifact"]["outputs"]]
    return output_batch_axes(names, manifest["runtime"]["settings"].get("state"),
                             {t["name"]: t.get("batch_axis", 0) for t in manifest["inputs"]})


def make_calls(feeds: list[Feed], proc: Processing, files: list[str]) -> tuple[list[str], list[tuple[dict, list]]]:
    """(item names, the calls: each one's inputs in the reference's layout and its images' placement). An image
    model's last call is filled with repeats of its last image, whose answers are not named (so not given)."""
    names, images, data = read_samples(feeds, files)
    per_call = next((feed.shape[0] for feed in feeds if feed.kind == "image"), 0)
    count = len(next(iter(data.values()))) if data else -(-len(images) // per_call)
    calls = []
    for i in range(count):
        photos = [images[min(j, len(images) - 1)] for j in range(i * per_call, (i + 1) * per_call)]
        calls.append(make_inputs(feeds, proc, photos, {name: array[i] for name, array in data.items()}))
    return names, calls


def answers(outputs: list[np.ndarray], meta, names: list[str], proc: Processing, batch_axes: list[int | None],
            output_names: list[str]) -> list[dict]:
    """One call's outputs -> one answer per item named (the project's postprocess, per batch element)."""
    result = postprocess(per_item([o[None] for o in outputs], batch_axes), proc, meta)
    return [{"sample": name, **per_sample(result, i, output_names)} for i, name in enumerate(names)]


def read_samples(feeds: list[Feed], files: list[str]) -> tuple[list[str], list[np.ndarray], dict[str, np.ndarray]]:
    """(item names, photos, arrays by input name [N, *shape fed]) from the command line's files."""
    images = [f for f in files if not f.endswith(".npz")]
    archives = [f for f in files if f.endswith(".npz")]
    wanted = [f for f in feeds if f.kind == "data"]
    per_call = next((feed.shape[0] for feed in feeds if feed.kind == "image"), 0)
    if per_call and not images:
        raise SystemExit("error: this model takes images: give .jpg/.png files")
    if not wanted:
        return images, [load_rgb(Path(p)) for p in images], {}
    if not archives or (per_call and len(archives) != 1):
        raise SystemExit("error: this model takes arrays: give " + (
            f"one .npz (its non-image inputs, [N, *shape] each) and {per_call} image(s) per sample" if per_call
            else ".npz files (one array per input name, [N, *the shape of one call])"))
    parts: dict[str, list[np.ndarray]] = {f.name: [] for f in wanted}
    names: list[str] = []
    for archive in archives:
        with np.load(archive) as arrays:
            problems = check_data(feeds, {k: arrays[k] for k in arrays.files}, archive)
            if problems:
                raise SystemExit(f"error: {problems[0]}")
            for feed in wanted:
                parts[feed.name].append(arrays[feed.name])
            names += [f"{archive}#{k}" for k in range(len(arrays[wanted[0].name]) * call_batch(feeds))]
    data = {name: np.concatenate(chunks) for name, chunks in parts.items()}
    if per_call:
        samples = len(next(iter(data.values())))
        if len(images) != samples * per_call:
            raise SystemExit(f"error: {len(images)} images but {samples} samples of {per_call} image(s) in "
                             f"{archives[0]}")
        names = images
    return names, [load_rgb(Path(p)) for p in images], data


def per_sample(result: dict, i: int, names: list[str]) -> dict:
    """The i-th item's share of a postprocess() result, as plain JSON types."""
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
