"""convgraph: `python convert.py +graph=NAME [overrides]` runs a conversion graph (see README)."""
from __future__ import annotations

import os
import signal
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from core.errors import UserError, first_line
from pipeline.commandline import check_argv, explain
from pipeline.config import available  # also registers the config's resolvers before Hydra composes

USER_ERROR_EXIT = 2
# Our own copy of the user's wish: Hydra's composition errors are let through (HYDRA_FULL_ERROR below) so that
# they can be said in one line; a user who set it still gets every traceback.
FULL_ERROR = os.environ.get("HYDRA_FULL_ERROR") == "1"
EXIT_CODE = [0]  # a single run's exit code, set by main()


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> int:
    if "graph" not in cfg:
        print("no graph chosen: pick one with +graph=NAME, e.g. python convert.py +graph=openvino\n"
              f"available graphs: {', '.join(available('graph'))}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    from pipeline.results import record_failure
    from pipeline.run import run_graph  # after the cheap checks: keeps `--help` and errors fast

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        results = run_graph(cfg, run_dir, Path(HydraConfig.get().sweep.dir) if multirun else None)
        select = OmegaConf.to_container(cfg.select, resolve=True) if cfg.get("select") is not None else None
        code = finish_run(results, run_dir, None if multirun else select)  # a sweep selects across its jobs
    except UserError as error:
        if FULL_ERROR:
            raise
        print(f"error: {error}", file=sys.stderr)
        record_failure(run_dir, cfg.graph.get("name", "?"), cfg.model.get("name", "?"), f"UserError: {error}")
        code = USER_ERROR_EXIT
    except KeyboardInterrupt:
        print(f"interrupted: what finished is kept and recorded in {run_dir / 'results.json'}", file=sys.stderr)
        sys.exit(130)
    except Exception as error:
        if FULL_ERROR:
            raise
        # A bug of ours: one line naming it and the file with its traceback; what finished stays recorded, and in a
        # sweep the other jobs go on (the summary shows this one failed).
        where = run_dir / "logs" / "traceback.log"
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(traceback.format_exc())
        line = f"{type(error).__name__}: {first_line(error)}"
        print(f"error: convgraph failed ({line}); the traceback is in {where}, what finished is in "
              f"{run_dir / 'results.json'}", file=sys.stderr)
        record_failure(run_dir, cfg.graph.get("name", "?"), cfg.model.get("name", "?"), line)
        code = 1
    if code and not multirun:
        # exit once Hydra is done with the job: its end-of-job callbacks (+tracking) see a failed run too
        EXIT_CODE[0] = code
    return code


def finish_run(results, run_dir: Path, select: dict | None = None) -> int:
    """After the pipeline wrote results.json: the report, with +select the decision (ship.finish decides, bundles and
    records it in results.json) and its table and plot, report.html last. The exit code: 0 only when the run is ok
    and, with a selection, something was picked and bundled."""
    from report.run_end import show_page, show_run
    from report.selection_page import publish
    from ship.finish import decide_run

    show_run(results, run_dir)
    code = 0 if results.status == "ok" else 1
    if select is not None:
        decision = decide_run(results, select, run_dir)
        publish(decision, run_dir)
        code = max(code, 0 if decision.succeeded else 1)
    show_page(results, run_dir)
    return code


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (a cancelled job): stop like Ctrl-C, recording what finished


if __name__ == "__main__":
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    signal.signal(signal.SIGTERM, _terminate)
    try:
        check_argv(sys.argv[1:])
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    os.environ["HYDRA_FULL_ERROR"] = "1"  # composition errors reach us instead of Hydra's multi-line report
    try:
        main()
    except (HydraException, OmegaConfBaseException) as error:
        if FULL_ERROR:
            raise
        print(f"error: {explain(error, sys.argv[1:])}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    sys.exit(EXIT_CODE[0])
