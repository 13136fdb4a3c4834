"""Where a benchmark worker stands, for the run's live view (pipeline/progress.py): three little-endian ints
(phase, done, total) in a 12-byte file the parent creates and reads while the worker runs.

The worker writes through a shared memory map: an update is a memory store, no system call, made between
timed iterations and never inside one, so the numbers measured are the ones measured without it. No file
(no TTY, progress=false): the worker gets no path and nothing is written at all.
"""
from __future__ import annotations

import mmap
import struct
from pathlib import Path

PHASES = ("loading", "preprocess", "warm-up", "timed", "postprocess", "profile", "done")
_INDEX = {name: i for i, name in enumerate(PHASES)}
_LAYOUT = struct.Struct("<3i")
_PHASE = struct.Struct("<i")  # the phase alone: the counts of the last loop stay readable


def create(path: Path) -> Path:
    """The parent's side: a zeroed slot (phase "loading") before the worker starts."""
    path.write_bytes(bytes(_LAYOUT.size))
    return path


def read(path: Path) -> tuple[str, int, int] | None:
    """(phase, done, total), or None when the slot is missing or not written yet."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) != _LAYOUT.size:
        return None
    phase, done, total = _LAYOUT.unpack(data)
    return (PHASES[phase] if 0 <= phase < len(PHASES) else "?"), done, total


class Slot:
    """The worker's side. Call it as `slot(phase, done, total)`, or `slot(phase)` to keep the counts; a slot
    without a path does nothing."""

    def __init__(self, path: str | None):
        self._map = None
        if path:
            with open(path, "r+b") as file:  # the map keeps the file's pages; the descriptor is not needed
                self._map = mmap.mmap(file.fileno(), _LAYOUT.size)

    def __bool__(self) -> bool:
        return self._map is not None

    def __call__(self, phase: str, done: int | None = None, total: int = 0) -> None:
        if self._map is None:
            return
        if done is None:
            _PHASE.pack_into(self._map, 0, _INDEX[phase])
        else:
            _LAYOUT.pack_into(self._map, 0, _INDEX[phase], done, total)

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
