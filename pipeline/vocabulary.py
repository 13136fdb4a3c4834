"""What a sequence model's classes stand for: `model.vocabulary`, read once and checked against the output before
anything runs, then carried in the run's processing (`postprocess.symbols`) so that every runtime, the report and a
deploy bundle spell the same strings.

model.vocabulary: a UTF-8 file with one symbol per line (line i is class i; the line of the blank class is not
shown; a relative path not found from the working directory is read from the repository, where conf/model keeps
a model's own), or `metadata:KEY`, a metadata property of the model's ONNX file with one symbol per line
(PaddleOCR keeps its characters there). model.vocabulary_first / vocabulary_last: symbols put before / after those
(PaddleOCR's files list neither the CTC blank, class 0, nor the space it adds as the last class).
"""
from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from core.sequences import DECODERS
from pipeline.schema import Model

METADATA = "metadata:"
REPO = Path(__file__).resolve().parent.parent


def with_vocabulary(model: Model, processing: dict) -> dict:
    """The run's processing with the vocabulary's symbols in `postprocess.symbols`, after checking the sequence
    postprocess (decode, blank, vocabulary) against the model's output: each mistake is one line."""
    post = dict(processing.get("postprocess") or {})
    decode, blank = post.get("decode"), post.get("blank", 0)
    if model.task != "sequence":
        if decode or model.vocabulary:
            raise UserError(f"model.postprocess.decode and model.vocabulary read sequences; model.task="
                            f"{model.task!r} is not sequence")
        return processing
    if decode is not None and decode not in DECODERS:
        raise UserError(f"model.postprocess.decode={decode!r} is not allowed; allowed: {', '.join(DECODERS)} "
                        "(or null: the best class per step, undecoded)")
    if isinstance(blank, bool) or not isinstance(blank, int):
        raise UserError(f"model.postprocess.blank={blank!r} is not allowed; give the blank's class index")
    symbols = read_vocabulary(model)
    classes = output_classes(model)
    if classes is not None and not 0 <= blank < classes:
        raise UserError(f"model.postprocess.blank={blank} is not a class of the output ({classes} classes); allowed: "
                        f"0..{classes - 1}")
    if symbols and classes is not None and len(symbols) < classes:
        raise UserError(f"model.vocabulary={model.vocabulary!r} gives {len(symbols)} symbols, the output has "
                        f"{classes} classes; give one symbol per class (the blank's included)")
    if symbols and not decode:
        raise UserError(f"model.vocabulary={model.vocabulary!r} spells decoded strings; give "
                        "model.postprocess.decode=ctc")
    if symbols:
        post["symbols"] = symbols
    return {**processing, "postprocess": post}


def read_vocabulary(model: Model) -> list[str]:
    """The symbols, class by class ([] without model.vocabulary)."""
    given = model.vocabulary
    if not given:
        return []
    where = f"model.vocabulary={given!r}"
    if given.startswith(METADATA):
        key = given[len(METADATA):]
        found = _metadata(model).get(key)
        if found is None:
            raise UserError(f"{where}: the model file has no metadata {key!r}; it has: "
                            f"{', '.join(sorted(_metadata(model))) or 'none'}")
        lines = found.splitlines()  # as RapidOCR reads it
    else:
        path = Path(given).expanduser()
        path = path if path.is_absolute() or path.is_file() else REPO / path
        if not path.is_file():
            raise UserError(f"{where}: no such file; give a text file with one symbol per line, or metadata:KEY")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise UserError(f"{where} is not UTF-8 text: {error.reason} at byte {error.start}") from None
        lines = [line.removesuffix("\r") for line in text.split("\n")]
        lines = lines[:-1] if lines and lines[-1] == "" else lines  # the last line's newline ends it
    first, last = ([str(s) for s in extra or []] for extra in (model.vocabulary_first, model.vocabulary_last))
    return [*first, *lines, *last]


def _metadata(model: Model) -> dict[str, str]:
    if model.source != "onnx_file":
        raise UserError(f"model.vocabulary={model.vocabulary!r} reads an ONNX file's metadata; model "
                        f"{model.name} is not an ONNX file: give a file with one symbol per line")
    import onnx

    graph = onnx.load(model.path, load_external_data=False)
    return {prop.key: prop.value for prop in graph.metadata_props}


def output_classes(model: Model) -> int | None:
    """C of the [N, T, C] output: an ONNX file's first output, else model.classes (None when neither says)."""
    if model.source == "onnx_file":
        import onnx

        from converters.step_io.onnx_io import tensor_specs

        output = tensor_specs(onnx.load(model.path, load_external_data=False))[1][0]
        if len(output.shape) != 3:
            raise UserError(f"model.task=sequence reads an output [N, T, C]; the model's output {output.name!r} is "
                            f"{output.shape}")
        return output.shape[2] if output.shape[2] > 0 else None
    if isinstance(model.classes, int):
        return model.classes
    return len(model.classes) if model.classes is not None else None
