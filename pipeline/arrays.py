"""Input and calibration arrays stored once by content: a run folder links to them instead of holding its own copy
(a sweep's jobs feed the same arrays; at 640 pixels each copy is tens of megabytes).

With the cache off the arrays are written into the run folder itself.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np


def digest(arrays: dict[str, np.ndarray]) -> str:
    """Of every array's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        h.update(name.encode() + str(array.dtype).encode() + repr(array.shape).encode() + array.tobytes())
    return h.hexdigest()


def store(arrays: dict[str, np.ndarray], run_file: Path, store_dir: Path | None) -> str:
    """Write `arrays` as the .npz at `run_file`: a link to the one copy in `store_dir` (written once, published by
    rename) or, without a store, the file itself. Returns the arrays' digest."""
    sha = digest(arrays)
    if store_dir is None:
        np.savez(run_file, **arrays)
        return sha
    stored = store_dir / f"{sha}.npz"
    if not stored.is_file():
        store_dir.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(dir=store_dir, suffix=".partial")
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)
        os.replace(tmp, stored)
    run_file.unlink(missing_ok=True)
    run_file.symlink_to(stored)
    return sha
