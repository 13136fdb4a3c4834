"""Small built-in models, so tests convert in seconds and exercise what real models make converters get wrong."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from core.errors import UserError
from models.weights import finish, load_weights


class TinyCNN(nn.Module):
    """conv-bn-relu x2, global pool, linear: enough structure to exercise export, fusing and layouts."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        )
        self.head = nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(self.features(x).mean(dim=(2, 3)))


class TinyHead(nn.Module):
    """A head that reshapes, transposes and concatenates: where NCHW -> NHWC conversions go wrong.

    Outputs: tokens [N, H*W + 1, 6] (a conv map flattened to rows, plus a pooled row) and the map itself
    [N, 6, H, W] (4-D: a converter that leaves it NHWC must be undone by the runtime adapter).
    """

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.proj = nn.Conv2d(8, 6, 1)
        self.pooled = nn.Linear(8, 6)

    def forward(self, x):
        features = self.stem(x)
        fmap = self.proj(features)
        tokens = fmap.reshape(fmap.shape[0], fmap.shape[1], -1).transpose(1, 2)
        pooled = self.pooled(features.mean(dim=(2, 3))).unsqueeze(1)
        return torch.cat([tokens, pooled], dim=1), fmap


class TinyTwoInputs(nn.Module):
    """An image and a float vector (say, an image and its metadata): conv features, pooled, joined with the
    vector, then a linear layer. Inputs `image` [N, 3, H, W] and `features` [N, 8]; logits [N, 10]. Its GELU is
    an Erf in ONNX, as in a transformer: what TFLite has no builtin for unless onnx2tf replaces it."""

    def __init__(self, features: int = 8, num_classes: int = 10):
        super().__init__()
        self.image_branch = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.GELU(),
                                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(8 + features, num_classes)

    def forward(self, image, features):
        return self.head(torch.cat([self.image_branch(image), features], dim=1))


class TinyCTC(nn.Module):
    """A text-line recognizer in miniature: conv-bn-relu x2 (stride 2 each) over a [N, channels, H, W] line, the
    height averaged away, a linear layer at each of the W/4 steps and a log-softmax over the classes: [N, W/4,
    classes], what a CTC head gives (decoded by core/sequences.py).

    48 features: onnx2tf 1.28.8 turns the steps' transpose the wrong way when the features and the steps are as many
    (32 and a 128-wide line), so the default line's 32 steps stay clear of them."""

    def __init__(self, channels: int = 1, classes: int = 11, features: int = 48):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, features, 3, stride=2, padding=1), nn.BatchNorm2d(features), nn.ReLU(),
        )
        self.head = nn.Linear(features, classes)

    def forward(self, x):
        steps = self.features(x).mean(dim=2).transpose(1, 2)  # [N, W/4, features]
        return torch.log_softmax(self.head(steps), dim=-1)


class TinyRNN(nn.Module):
    """A streaming model shaped like real ones (a voice-activity detector, a keyword spotter): a GRU over a chunk
    of frames `x` [N, 4, 8] whose state `h` [layers, N, hidden] (batch on axis 1) goes in and comes back out as
    `h_out`, and a rank-0 int64 sample rate `sr` the input is scaled by (sr / 16000); logits per frame [N, 4, 3]."""

    def __init__(self, features: int = 8, hidden: int = 16, layers: int = 2, classes: int = 3):
        super().__init__()
        self.gru = nn.GRU(features, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x, h, sr):
        out, h_out = self.gru(x * (sr.to(x.dtype) / 16000.0), h)
        return self.head(out), h_out


BUILTIN = {"tiny_cnn": TinyCNN, "tiny_head": TinyHead, "tiny_two_inputs": TinyTwoInputs, "tiny_ctc": TinyCTC,
           "tiny_rnn": TinyRNN}


def build(cfg: dict, seed: int) -> nn.Module:
    if cfg["name"] not in BUILTIN:
        raise UserError(f"model.name={cfg['name']!r} is not a built-in model; known: {', '.join(BUILTIN)}")
    if cfg["name"] == "tiny_ctc":  # its channels and classes from its config
        inputs = cfg.get("inputs") or [{"shape": [1, 1]}]
        model = TinyCTC(int(inputs[0]["shape"][1]), int(cfg.get("classes") or 11))
    else:
        model = BUILTIN[cfg["name"]]()
    if isinstance(model, TinyRNN):  # no BatchNorm to calibrate on photos: its init keeps the signal
        if cfg.get("weights"):
            load_weights(model, Path(cfg["weights"]))
        return model.eval()
    if isinstance(model, TinyTwoInputs) and not cfg.get("weights"):
        finish(model.image_branch, cfg)  # its BatchNorm sees the photos; the vector needs none
        return model.eval()
    return finish(model, cfg)
