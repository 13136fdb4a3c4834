"""Content-addressed cache of step outputs.

key = step kind + its resolved options + the run's StepInputs + the input artifact's sha256 + the versions of
the packages doing the conversion + this CPU's instruction sets for a step that chooses by them (DEPENDS_ON_CPU:
an int8 search timing its candidates, bf16 where the CPU has it) + the step module's own source (a fixed
converter must not reuse a buggy one's output) + hashes of files those point at (weights, calibration samples) +
how artifacts are hashed (core.artifact.HASH_SCHEME: an entry verifies its files by that hash).

An entry is built in a private temp dir on the cache's filesystem and published with one rename, so a
reader sees a whole entry or none: a run killed mid-step leaves only a temp dir, which is never trusted.
When two writers race, the first rename wins and the other adopts the winner's entry, so every job ends
with the same artifact hashes.
"""
from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import shutil
import uuid
from pathlib import Path

from bench.environment import cpu_info, package_versions
from core.artifact import HASH_SCHEME, Artifact, hash_path

MANIFEST = "artifacts.json"


def step_key(kind: str, options: dict, inputs: dict, input_sha: str, step_module) -> str:
    """`options`: the user's, as the config gave them; `inputs`: the run's StepInputs as data. Any change to
    either, or to a file either points at, gives another key."""
    # the step's own code and the modules its output depends on (CODE)
    source = inspect.getsource(step_module) + module_sources(getattr(step_module, "CODE", ()))
    given = {"options": options, "inputs": inputs}
    payload = {"kind": kind, "given": _by_content(given, referenced_file_hashes(given)), "input": input_sha,
               "versions": package_versions(getattr(step_module, "PACKAGES", ())),
               "code": hashlib.sha256(source.encode()).hexdigest(), "hash_scheme": HASH_SCHEME}
    if getattr(step_module, "DEPENDS_ON_CPU", False):
        payload["cpu_flags"] = cpu_info()["flags"]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]


def module_sources(names) -> str:
    """The source text of modules by name, found, not imported (the orchestrator never imports a runtime)."""
    source = ""
    for name in names:
        spec = importlib.util.find_spec(name)
        source += Path(spec.origin).read_text() if spec and spec.origin else f"<{name} missing>"
    return source


def _by_content(options: dict, file_hashes: dict[str, str], where: str = "") -> dict:
    """Options with every file path replaced by its content hash: a run's calibration.npy lives in that run's
    own directory, and the same images must give the same key from any run."""
    out = {}
    for key, value in options.items():
        path = f"{where}.{key}" if where else key
        if isinstance(value, dict):
            out[key] = _by_content(value, file_hashes, path)
        else:
            out[key] = f"sha256:{file_hashes[path]}" if path in file_hashes else value
    return out


def referenced_file_hashes(options: dict) -> dict[str, str]:
    """Hashes of files that options point at by path (weights, calibration data): their content is input."""
    found = {}

    def walk(value, where):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}" if where else k)
        elif isinstance(value, str) and value.startswith("/") and Path(value).is_file():
            found[where] = hash_path(Path(value))[0]

    walk(options, "")
    return found


class StepCache:
    def __init__(self, root: Path):
        self.root = root
        self.entries = root / "entries"
        self.tmp = root / "tmp"
        for folder in (self.entries, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)

    def lookup(self, key: str) -> list[Artifact] | None:
        """The entry's artifacts, when the entry is complete and its files still hash as recorded."""
        entry = self.entries / key
        try:
            records = json.loads((entry / MANIFEST).read_text())
        except (FileNotFoundError, ValueError):
            return None
        artifacts = [_absolute(Artifact.from_dict(r), entry) for r in records]
        if any(hash_path(Path(a.path))[0] != a.sha256 for a in artifacts):
            return None  # altered after publishing: convert again rather than trust it
        return artifacts

    def reserve(self, key: str) -> Path:
        """A private, empty work dir on the cache's filesystem (so publishing is one rename)."""
        workdir = self.tmp / f"{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        workdir.mkdir()
        return workdir

    def publish(self, key: str, workdir: Path, artifacts: list[Artifact]) -> list[Artifact]:
        """Move a finished work dir into place; if another writer got there first, use theirs."""
        records = [_relative(a, workdir).to_dict() for a in artifacts]
        (workdir / MANIFEST).write_text(json.dumps(records, indent=2))  # written last: marks a whole entry
        entry = self.entries / key
        try:
            os.rename(workdir, entry)
        except OSError:  # the entry exists: a concurrent writer published the same key first
            shutil.rmtree(workdir, ignore_errors=True)
        published = self.lookup(key)
        if published is None:
            raise RuntimeError(f"cache entry {entry} is unreadable after publishing")
        return published


def _relative(artifact: Artifact, base: Path) -> Artifact:
    data = artifact.to_dict()
    data["path"] = str(Path(artifact.path).relative_to(base))
    return Artifact.from_dict(data)


def _absolute(artifact: Artifact, base: Path) -> Artifact:
    artifact.path = str(base / artifact.path)
    return artifact


class ResultMemo:
    """Files of a deterministic computation (a runtime's outputs on fixed inputs; a measurement reused within
    one sweep), kept by content key and published by one rename like the step cache."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> Path | None:
        entry = self.root / key
        return entry if (entry / MANIFEST).exists() else None

    def put(self, key: str, files: list[Path], origin: str) -> None:
        workdir = self.root / f".{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        workdir.mkdir()
        for file in files:
            shutil.copyfile(file, workdir / file.name)
        (workdir / MANIFEST).write_text(json.dumps({"files": [f.name for f in files], "origin": origin}))
        try:
            os.rename(workdir, self.root / key)
        except OSError:  # published by another job meanwhile: theirs is the same computation
            shutil.rmtree(workdir, ignore_errors=True)


def content_key(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
