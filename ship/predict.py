"""Run the bundled model on images: `python predict.py IMAGE...` prints one JSON object per image.

This file is the `predict.py` of a deploy bundle (ship/deploy.py copies it there). It imports only what the
bundle ships next to it, which is the project's own code, copied verbatim:
  core/images.py        the image reader the benchmark used (Pillow, RGB)
  core/prepost.py       the pre- and post-processing the benchmark timed (numpy)
  runtimes/             the runtime adapters the benchmark measured through; only the runtime of the bundled
                        artifact is imported, when the artifact is loaded
and takes everything else from manifest.json (artifact file, tensors, runtime settings, preprocessing).

Classification: {"image", "top_k": [{"class", "probability"}, ...]}; detection: {"image", "boxes":
[{"xyxy": [x1, y1, x2, y2] in original-image pixels, "score", "class"}, ...]}; raw: {"image", "outputs"}.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from core.artifact import Artifact
from core.images import load_rgb
from core.prepost import Processing, postprocess, preprocess_with_meta
from runtimes import load
from runtimes.base import Settings

HERE = Path(__file__).resolve().parent


def load_bundle(folder: Path = HERE):
    """(runner, processing, batch size) from manifest.json."""
    manifest = json.loads((folder / "manifest.json").read_text())
    artifact = Artifact.from_dict({**manifest["artifact"], "path": str(folder / manifest["artifact"]["path"])})
    runner = load(artifact, Settings(**manifest["runtime"]["settings"]))
    batch = artifact.inputs[0].shape[0] if artifact.inputs and artifact.inputs[0].shape[0] > 0 else 1
    return runner, Processing.from_config(manifest["processing"]), batch


def per_image(result: dict, i: int, names: list[str]) -> dict:
    """The i-th image's share of a postprocess() result, as plain JSON types."""
    if "top_k" in result:
        return {"top_k": [{"class": int(c), "probability": float(p)}
                          for c, p in zip(result["top_k"][i], result["probs"][i], strict=True)]}
    if "boxes" in result:
        return {"boxes": [{"xyxy": [float(v) for v in box], "score": float(score), "class": int(cls)}
                          for box, score, cls in zip(result["boxes"][i], result["scores"][i],
                                                     result["classes"][i], strict=True)]}
    return {"outputs": {name: out[i].tolist() for name, out in zip(names, result["raw"], strict=True)}}


def predict(paths: list[str], folder: Path = HERE):
    """Yield one dict per image, in order. The artifact's batch is fixed: the last chunk is padded with
    repeats of its last image, whose results are dropped."""
    runner, proc, batch = load_bundle(folder)
    names = [o["name"] for o in json.loads((folder / "manifest.json").read_text())["artifact"]["outputs"]]
    for start in range(0, len(paths), batch):
        chunk = paths[start : start + batch]
        images = [load_rgb(Path(p)) for p in chunk]
        images += [images[-1]] * (batch - len(images))
        inputs, meta = preprocess_with_meta(images, proc, runner.layout)
        result = postprocess(runner(inputs), proc, meta)
        for i, path in enumerate(chunk):
            yield {"image": path, **per_image(result, i, names)}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for answer in predict(argv):
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
