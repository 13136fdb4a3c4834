"""core/audio.py: WAV files read with the standard library (8 to 32-bit PCM, stereo downmixed), resampled to the
model's rate by a polyphase windowed-sinc filter (checked against pure tones: the tone kept, a tone above the new
Nyquist frequency removed), cut into windows of the input's length; real speech made by espeak-ng."""
from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from core.audio import audio_windows, read_wav, resample
from core.errors import UserError


def tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(int(rate * seconds)) / rate)).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int, width: int = 2) -> Path:
    """samples [n] or [n, channels] in [-1, 1] as PCM of `width` bytes."""
    frames = samples if samples.ndim == 2 else samples[:, None]
    scale = float(1 << (8 * width - 1))
    ints = np.clip(np.round(frames * scale), -scale, scale - 1).astype(np.int64)
    if width == 1:
        data = (ints + 128).astype(np.uint8).tobytes()
    else:
        data = b"".join(int(v).to_bytes(width, "little", signed=True) for v in ints.ravel())
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(frames.shape[1])
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(data)
    return path


@pytest.mark.parametrize(("rate", "target"), [(44100, 16000), (48000, 16000), (8000, 16000), (22050, 16000)])
def test_a_pure_tone_comes_out_as_the_same_tone_at_the_new_rate(rate, target):
    out = resample(tone(1000, rate, 1.0), rate, target)
    assert len(out) == target
    expected = tone(1000, target, 1.0)
    inner = slice(100, target - 100)  # the filter's reach at the ends sees silence beyond the signal
    assert np.abs(out[inner] - expected[inner]).max() < 1e-3


def test_a_tone_above_the_new_nyquist_frequency_is_removed_not_folded():
    folded = resample(tone(10000, 44100, 1.0), 44100, 16000)  # 10 kHz would fold to 6 kHz at 16 kHz
    assert np.sqrt(np.mean(folded[100:-100] ** 2)) < 1e-3  # of an input whose RMS is 0.35
    kept = resample(tone(7000, 44100, 1.0), 44100, 16000)  # below 8 kHz but in the filter's transition: mostly kept
    assert np.sqrt(np.mean(kept[100:-100] ** 2)) > 0.3


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_pcm_of_every_width_reads_back_and_stereo_is_downmixed(tmp_path, width):
    left, right = tone(440, 16000, 0.1), tone(440, 16000, 0.1, 0.25)
    path = write_wav(tmp_path / f"{width}.wav", np.stack([left, right], axis=1), 16000, width)
    samples, rate = read_wav(path)
    assert rate == 16000 and samples.dtype == np.float32 and len(samples) == len(left)
    step = 1 / 128 if width == 1 else 1 / (1 << (8 * width - 1))
    np.testing.assert_allclose(samples, (left + right) / 2, atol=step)


def test_what_cannot_be_read_or_cut_is_one_line(tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    with pytest.raises(UserError, match=r"^input.audio='.*notes.wav' is not a PCM WAV file \(file does not start "
                                        r"with RIFF id\); give 8, 16, 24 or 32-bit PCM WAV$"):
        audio_windows(text, [1, 16000])
    floats = tmp_path / "float.wav"  # IEEE float samples (format 3), as some editors write
    fmt = (3).to_bytes(2, "little") + (1).to_bytes(2, "little") + (16000).to_bytes(4, "little") + \
        (64000).to_bytes(4, "little") + (4).to_bytes(2, "little") + (32).to_bytes(2, "little")
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" + (0).to_bytes(4, "little")
    floats.write_bytes(b"RIFF" + len(body).to_bytes(4, "little") + body)
    with pytest.raises(UserError, match=r"is not a PCM WAV file \(unknown format: 3\)"):
        audio_windows(floats, [1, 16000])
    short = write_wav(tmp_path / "short.wav", tone(440, 16000, 0.5), 16000)
    with pytest.raises(UserError) as caught:
        audio_windows(short, [1, 16000])
    assert str(caught.value) == (f"input.audio={str(short)!r}: short.wav holds 0.50 s (8000 samples at 16000 Hz), "
                                 "shorter than one window of the model's input (16000 samples, 1.00 s)")
    slow = write_wav(tmp_path / "slow.wav", tone(100, 500, 4.0), 500)
    with pytest.raises(UserError, match=r"^the file's rate=500 Hz cannot be resampled; allowed: 1000..384000 Hz$"):
        audio_windows(slow, [1, 16000])
    with pytest.raises(UserError, match=r"an audio input is float \[batch, samples\]; this input is int64 \[1, 1"):
        audio_windows(short, [1, 16000], dtype="int64")
    with pytest.raises(UserError, match=r"holds no .wav file"):
        audio_windows(tmp_path / "..", [1, 16000])


def speech(path: Path, text: str) -> Path:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (Debian: apt-get install espeak-ng): no real speech to test on")
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


def test_real_speech_is_resampled_and_cut_into_the_inputs_windows(tmp_path):
    folder = tmp_path / "speech"
    folder.mkdir()
    first = speech(folder / "a.wav", "convgraph reads real speech from a wave file, one window at a time")
    speech(folder / "b.wav", "and a second file after the first")
    samples, rate = read_wav(first)
    assert rate == 22050 and np.abs(samples).max() > 0.1  # espeak-ng writes 22.05 kHz mono
    at_16k = resample(samples, rate, 16000)
    assert len(at_16k) == -(-len(samples) * 16000 // rate)
    # speech energy lies below 8 kHz: resampling keeps it
    assert np.sqrt(np.mean(at_16k ** 2)) == pytest.approx(np.sqrt(np.mean(samples ** 2)), rel=0.02)
    one = audio_windows(first, [1, 16000])
    assert one.shape == (len(at_16k) // 16000, 1, 16000) and one.dtype == np.float32
    np.testing.assert_array_equal(one.reshape(-1), at_16k[: one.size])  # consecutive windows, in order
    both = audio_windows(folder, [2, 8000])  # two windows of half a second a call, over both files
    windows_a = len(at_16k) // 8000
    b16 = resample(*read_wav(folder / "b.wav"), 16000)
    assert both.shape == ((windows_a + len(b16) // 8000) // 2, 2, 8000)
    np.testing.assert_array_equal(both.reshape(-1, 8000)[windows_a], b16[:8000])  # b.wav's first window follows a's


def test_the_config_names_the_audio_and_the_models_rate(tmp_path):
    from pipeline.config import validate
    from tests.conftest import composed

    wav = write_wav(tmp_path / "a.wav", tone(440, 16000, 1.0), 16000)
    checked = validate(composed("cache.enabled=false", f"input.audio={wav}", "+model.sample_rate=22050"))
    assert checked.input.audio == str(wav) and checked.model.sample_rate == 22050
    with pytest.raises(UserError) as caught:
        validate(composed("cache.enabled=false", "input.audio=/no/such.wav"))
    assert str(caught.value) == ("input.audio='/no/such.wav': no such file or folder; give a WAV file or a folder of "
                                 "them")
    with pytest.raises(UserError) as caught:
        validate(composed("cache.enabled=false", "+model.sample_rate=100"))
    assert str(caught.value) == "model.sample_rate=100 is not allowed; give an integer >= 1000"


class FrameEnergy(torch.nn.Module):
    """A voice-activity detector in miniature: a waveform [batch, 1600] cut into 10 frames of 160 samples, each
    frame's log energy and a linear layer: logits [batch, 10, 2]."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(1, 2)
        torch.nn.init.constant_(self.head.weight, 1.0)

    def forward(self, wave):
        frames = wave.reshape(wave.shape[0], 10, 160)
        energy = (frames * frames).mean(dim=-1, keepdim=True)
        return self.head(torch.log(energy + 1e-6))


@pytest.mark.cli
def test_real_speech_feeds_an_audio_model_through_convert(convert, tmp_path):
    wav = speech(tmp_path / "speech.wav", "convgraph reads real speech from a wave file, one window at a time")
    onnx_path = tmp_path / "vad.onnx"
    torch.onnx.export(FrameEnergy().eval(), (torch.zeros(1, 1600),), str(onnx_path), input_names=["wave"],
                      output_names=["logits"], opset_version=17, dynamo=False)
    run = convert("+graph=openvino", "model=onnx", f"model.path={onnx_path}", "model.task=raw", f"input.audio={wav}",
                  "bench.warmup=1", "bench.runs=2", "~graph.steps.onnx_lowp")
    assert run.returncode == 0, run.tail()
    wave = next(t for t in run.results.inputs.tensors if t["name"] == "wave")
    assert wave["source"] == "input.audio" and wave["shape"] == [1, 1600]
    with np.load(run.dir / "inputs.npz") as data:
        fed = data["wave"]
    calls = len(resample(*read_wav(wav), 16000)) // 1600
    held = round(calls * 0.25)  # calibration.holdout: the last windows are kept to calibrate on, never judged
    assert fed.shape == (calls - held, 1, 1600)
    np.testing.assert_array_equal(fed.reshape(-1), resample(*read_wav(wav), 16000)[: fed.size])
    assert run.parity("openvino").passed and run.parity("openvino").worst_abs() < 1e-4
