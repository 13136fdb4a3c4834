"""Audio for a model that takes a waveform ([batch, samples] floats): WAV files read with the standard library,
downmixed to mono, resampled to the model's rate and cut into windows of the input's length.

numpy only (a deploy bundle ships core/): the resampler is polyphase, a Kaiser-windowed sinc low-pass evaluated at
each of the `up` phases of the rational ratio up/down (the ratio's lowest terms), normalised to unit gain per phase,
with its cutoff at the lower of the two Nyquist frequencies (no aliasing when downsampling).
"""
from __future__ import annotations

import math
import wave
from pathlib import Path

import numpy as np

from core.errors import UserError

DEFAULT_RATE = 16000
RATES = (1000, 384000)  # sample rates the resampler takes, in and out (Hz)
ZERO_CROSSINGS = 16  # of the sinc on each side of a sample, at the cutoff: the filter's length and sharpness
KAISER_BETA = 8.6  # about 90 dB stop-band attenuation
CHUNK = 1 << 15  # outputs computed at once (bounds the gathered block to CHUNK x taps floats)


def read_wav(path: str | Path, where: str | None = None) -> tuple[np.ndarray, int]:
    """(mono float32 samples in [-1, 1], sample rate) of a PCM WAV file of 8, 16, 24 or 32 bits; channels are
    averaged. Anything else is a UserError naming the file."""
    where = where or f"{path}"
    try:
        with wave.open(str(path), "rb") as wav:
            channels, width, rate, frames = wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getnframes()
            raw = wav.readframes(frames)
    except (wave.Error, EOFError) as error:
        raise UserError(f"{where} is not a PCM WAV file ({error}); give 8, 16, 24 or 32-bit PCM WAV") from None
    except OSError as error:
        raise UserError(f"{where} cannot be read: {error.strerror or error}") from None
    if width == 1:  # 8-bit WAV is unsigned
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    elif width == 3:  # 24-bit little-endian: sign-extend three bytes into an int32
        triples = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        values = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        samples = (np.where(values >= 1 << 23, values - (1 << 24), values) / float(1 << 23)).astype(np.float32)
    elif width in (2, 4):
        kind = np.int16 if width == 2 else np.int32
        samples = (np.frombuffer(raw, f"<{np.dtype(kind).str[1:]}") / float(np.iinfo(kind).max + 1)).astype(
            np.float32)
    else:
        raise UserError(f"{where} has {8 * width}-bit samples; give 8, 16, 24 or 32-bit PCM WAV")
    samples = samples[: len(samples) // channels * channels].reshape(-1, channels)
    return samples.mean(axis=1, dtype=np.float32), rate


def _check_rate(rate: int, what: str) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int) or not RATES[0] <= rate <= RATES[1]:
        raise UserError(f"{what}={rate!r} Hz cannot be resampled; allowed: {RATES[0]}..{RATES[1]} Hz")


def _kaiser(x: np.ndarray) -> np.ndarray:
    """The Kaiser window at positions x in [-1, 1] (0 outside)."""
    inside = np.clip(1 - x * x, 0, None)
    return np.where(np.abs(x) <= 1, np.i0(KAISER_BETA * np.sqrt(inside)) / np.i0(KAISER_BETA), 0.0)


def resample(samples: np.ndarray, rate: int, target: int = DEFAULT_RATE) -> np.ndarray:
    """Mono `samples` at `rate` Hz -> at `target` Hz (float32, ceil(len * target / rate) samples)."""
    _check_rate(rate, "the file's rate")
    _check_rate(target, "the model's rate")
    samples = np.asarray(samples, np.float32)
    if rate == target:
        return samples.copy()
    common = math.gcd(rate, target)
    up, down = target // common, rate // common
    cutoff = min(1.0, target / rate)  # of the input's Nyquist frequency
    half = math.ceil(ZERO_CROSSINGS / cutoff)  # input samples on each side of an output
    taps = np.arange(-half + 1, half + 1)
    # output n lies at input time (n * down) / up = base + phase / up; tap k reads input base + k
    offsets = taps[None, :] - np.arange(up)[:, None] / up
    table = cutoff * np.sinc(cutoff * offsets) * _kaiser(offsets / half)
    table /= table.sum(axis=1, keepdims=True)  # unit gain at DC for every phase
    padded = np.concatenate([np.zeros(half, np.float32), samples, np.zeros(half + 1, np.float32)])
    count = -(-len(samples) * up // down)
    out = np.empty(count, np.float32)
    for start in range(0, count, CHUNK):
        n = np.arange(start, min(count, start + CHUNK), dtype=np.int64)
        base, phase = (n * down) // up, (n * down) % up
        block = padded[base[:, None] + half + taps[None, :]]
        out[start : start + len(n)] = np.einsum("ij,ij->i", block, table[phase])
    return out


def windows(samples: np.ndarray, length: int, where: str, rate: int) -> np.ndarray:
    """[n, length]: consecutive windows of `samples`; a tail shorter than a window is left out."""
    count = len(samples) // length
    if count == 0:
        raise UserError(f"{where} holds {len(samples) / rate:.2f} s ({len(samples)} samples at {rate} Hz), shorter "
                        f"than one window of the model's input ({length} samples, {length / rate:.2f} s)")
    return samples[: count * length].reshape(count, length)


def wav_files(source: str | Path, where: str) -> list[Path]:
    """A .wav file, or the .wav files of a folder in name order."""
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
        if not files:
            raise UserError(f"{where} holds no .wav file; give a WAV file or a folder of them")
        return files
    if not path.is_file():
        raise UserError(f"{where}: no such file or folder; give a WAV file or a folder of them")
    return [path]


def audio_windows(source: str | Path, shape: list[int], rate: int = DEFAULT_RATE, dtype: str = "float32",
                  where: str | None = None) -> np.ndarray:
    """[N, *shape]: the windows of `source` (input.audio: a WAV file or a folder of them) for an input of `shape`
    ([batch, samples]: each call takes batch windows of `samples`; every file resampled to `rate` and cut on its
    own, its last partial window left out; windows that do not fill a last call are left out too)."""
    where = where or f"input.audio={str(source)!r}"
    if len(shape) < 2 or not str(dtype).startswith("float") or any(d < 1 for d in shape):
        raise UserError(f"{where}: an audio input is float [batch, samples]; this input is {dtype} {list(shape)}")
    length, per_call = shape[-1], math.prod(shape[:-1])
    cut = []
    for file in wav_files(source, where):
        samples, file_rate = read_wav(file, f"{where}: {file.name}" if Path(source).is_dir() else where)
        cut.append(windows(resample(samples, file_rate, rate), length, f"{where}: {file.name}", rate))
    every = np.concatenate(cut)
    calls = len(every) // per_call
    if calls == 0:
        raise UserError(f"{where} gives {len(every)} windows of {length} samples; the input takes {per_call} a call")
    return every[: calls * per_call].reshape(calls, *shape).astype(dtype)
