"""Hugging Face transformers sequence classifiers (`model=bert`; any architecture AutoConfig.for_model knows,
`model.arch`), built from a config offline with the run's seed: no hub here. `model.config` sets any field of the
config; `model.weights=DIR` loads a local `save_pretrained` directory instead.

The saved module takes its inputs positionally, in the order `model.inputs` lists them (input_ids,
attention_mask, token_type_ids), and returns the logits alone: one tensor, as every runtime returns it.
"""
from __future__ import annotations

from pathlib import Path

from torch import nn

from core.errors import UserError, first_line


class SequenceClassifier(nn.Module):
    def __init__(self, model: nn.Module, names: list[str]):
        super().__init__()
        self.model, self.names = model, list(names)

    def forward(self, *tensors):
        return self.model(**dict(zip(self.names, tensors, strict=True))).logits


def build(cfg: dict, seed: int) -> nn.Module:
    import transformers

    names = [spec["name"] for spec in cfg.get("inputs") or []]
    if cfg.get("weights"):
        path = Path(cfg["weights"])
        if not (path / "config.json").is_file():
            raise UserError(f"model.weights={str(path)!r} is not a save_pretrained directory (no config.json)")
        try:
            model = transformers.AutoModelForSequenceClassification.from_pretrained(path, local_files_only=True)
        except Exception as error:  # a broken or foreign directory: transformers raises several types
            raise UserError(f"model.weights={str(path)!r} does not load: {first_line(error)}") from error
    else:
        arch = cfg.get("arch") or "bert"
        try:
            config = transformers.AutoConfig.for_model(arch, **(cfg.get("config") or {}))
        except ValueError as error:
            raise UserError(f"model.arch={arch!r} is not an architecture transformers knows: "
                            f"{first_line(error)}") from error
        model = transformers.AutoModelForSequenceClassification.from_config(config)
    return SequenceClassifier(model.eval(), names).eval()
