"""Rerun a recorded run on this machine and check it reproduces: each artifact's content hash against the record,
each runtime's median inference time beside the recorded one.

    python -m tools.replay RUN_DIR [--out DIR]

The run is made again from the overrides Hydra saved in RUN_DIR/.hydra/overrides.yaml, with the cache off so
that every conversion really runs, into a new run directory (default: RUN_DIR-replay, numbered when taken).
Exit 0 when every artifact hashes as recorded, 1 when one does not (or is missing on either side), 2 when
RUN_DIR is not a run directory. Timings are reported, never judged: they move with the machine's load.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402 - after the path set-up above (PyYAML comes with Hydra)

from pipeline.results import FILE, RunResults, load_results  # noqa: E402

OVERRIDES = Path(".hydra") / "overrides.yaml"
# the record's own cache settings are replaced: a cache hit would hand back the recorded files themselves
DROPPED = ("cache.enabled",)


class NotARun(Exception):
    """RUN_DIR cannot be replayed: said in one line, exit 2."""


@dataclass
class Row:
    artifact: str
    runtime: str | None
    recorded_sha: str | None
    replayed_sha: str | None
    recorded_ms: float | None
    replayed_ms: float | None

    @property
    def match(self) -> bool:
        return bool(self.recorded_sha) and self.recorded_sha == self.replayed_sha

    @property
    def ratio(self) -> float | None:
        if self.recorded_ms and self.replayed_ms is not None:
            return self.replayed_ms / self.recorded_ms
        return None


def recorded_overrides(run_dir: Path) -> list[str]:
    """The command line of the recorded run, as Hydra saved it, with the cache forced off."""
    if not (run_dir / FILE).is_file():
        raise NotARun(f"{run_dir} is not a run directory: it has no {FILE}")
    path = run_dir / OVERRIDES
    if not path.is_file():
        raise NotARun(f"{run_dir} has no {OVERRIDES} (the overrides Hydra saves with each run): nothing to replay")
    saved = yaml.safe_load(path.read_text()) or []
    kept = [o for o in saved if o.lstrip("+~").split("=", 1)[0] not in DROPPED]
    return [*kept, "cache.enabled=false"]


def default_out(run_dir: Path) -> Path:
    out = run_dir.with_name(f"{run_dir.name}-replay")
    number = 2
    while out.exists():
        out = run_dir.with_name(f"{run_dir.name}-replay{number}")
        number += 1
    return out


def rerun(overrides: list[str], out: Path) -> subprocess.CompletedProcess:
    """convert.py as the user ran it; its own output goes to OUT/replay.log, not between the tables."""
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(REPO / "convert.py"), *overrides, f"hydra.run.dir={out}"]
    print("$ python convert.py " + " ".join(command[2:]), flush=True)
    with open(out / "replay.log", "w") as log:
        return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, text=True)


def rows(recorded: RunResults, replayed: RunResults) -> list[Row]:
    """One row per artifact of either run, in the record's order (one only the replay made comes last)."""
    names = [a.name for a in recorded.artifacts]
    names += [a.name for a in replayed.artifacts if a.name not in names]

    def median(results: RunResults, name: str) -> float | None:
        row = next((b for b in results.ok_bench() if b.artifact == name and b.infer_ms), None)
        return row.infer_ms.median if row else None

    def runtime(name: str) -> str | None:
        row = next((b for b in [*recorded.bench, *replayed.bench] if b.artifact == name), None)
        return row.runtime if row else None

    out = []
    for name in names:
        before, after = recorded.artifact(name), replayed.artifact(name)
        out.append(Row(name, runtime(name), before.sha256 if before else None, after.sha256 if after else None,
                       median(recorded, name), median(replayed, name)))
    return out


def table(found: list[Row], fmt: str = "simple") -> str:
    def short(sha: str | None) -> str:
        return sha[:12] if sha else "missing"

    def ms(value: float | None) -> str:
        return f"{value:.3f}" if value is not None else "-"

    body = [[r.artifact, r.runtime or "-", short(r.recorded_sha), short(r.replayed_sha), "yes" if r.match else "NO",
             ms(r.recorded_ms), ms(r.replayed_ms), f"{r.ratio:.2f}" if r.ratio is not None else "-"] for r in found]
    return tabulate(body, headers=["artifact", "runtime", "recorded sha256", "replayed sha256", "match",
                                   "recorded ms", "replayed ms", "ratio"], tablefmt=fmt, disable_numparse=True)


def config_changes(recorded: RunResults, replayed: RunResults) -> list[str]:
    """Config keys whose resolved value differs between the two runs (conf/ may have changed since), cache
    settings aside: those differ on purpose."""

    def flat(value, where=""):
        if not isinstance(value, dict):
            return {where: value}
        return {k: v for key, sub in value.items() for k, v in flat(sub, f"{where}.{key}".lstrip(".")).items()}

    before, after = flat(recorded.config), flat(replayed.config)
    return sorted(k for k in before.keys() | after.keys()
                  if before.get(k) != after.get(k) and not k.startswith("cache."))


def replay(run_dir: Path, overrides: list[str], out: Path | None) -> int:
    recorded = load_results(run_dir)
    out = out or default_out(run_dir)
    done = rerun(overrides, out)
    if not (out / FILE).is_file():
        print(f"error: the replay wrote no {FILE} (exit {done.returncode}); see {out / 'replay.log'}",
              file=sys.stderr)
        return 1
    replayed = load_results(out)
    found = rows(recorded, replayed)
    matched = sum(r.match for r in found)
    changes = config_changes(recorded, replayed)
    lines = [table(found), "",
             f"{matched}/{len(found)} artifacts hash as recorded; ratio = replayed / recorded median ms",
             f"recorded: {run_dir} ({_machine(recorded)}); replayed: {out} ({_machine(replayed)})",
             "config: as recorded" if not changes else f"config differs from the record at: {', '.join(changes)}"]
    if replayed.status != "ok":
        lines.append(f"the replayed run ended {replayed.status} (exit {done.returncode}); see {out / 'replay.log'}")
    print("\n".join(lines))
    (out / "replay.md").write_text(f"# Replay of {run_dir}\n\n{table(found, 'github')}\n\n"
                                   + "\n\n".join(lines[2:]) + "\n")
    return 0 if found and matched == len(found) else 1


def _machine(results: RunResults) -> str:
    env = results.environment
    return f"{env.host}, {env.cpu.model}" if env else "machine not recorded"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run directory (holding results.json and .hydra/)")
    parser.add_argument("--out", type=Path, help="the replay's run directory (default: RUN_DIR-replay)")
    args = parser.parse_args(argv)
    try:
        overrides = recorded_overrides(args.run_dir)  # a bad directory is said before anything runs
        return replay(args.run_dir, overrides, args.out)
    except NotARun as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
