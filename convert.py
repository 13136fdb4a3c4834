"""convgraph: `python convert.py +graph=NAME [overrides]` runs a conversion graph (see README)."""
from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from core.errors import UserError
from pipeline.cli_check import check_group_choices, check_keys
from pipeline.config_check import available

NO_GRAPH_EXIT = 2
USER_ERROR_EXIT = 2


@hydra.main(config_path="conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> int:
    if "graph" not in cfg:
        print("no graph chosen: pick one with +graph=NAME, e.g. python convert.py +graph=openvino\n"
              f"available graphs: {', '.join(available('graph'))}", file=sys.stderr)
        sys.exit(NO_GRAPH_EXIT)
    from bench.report import record_failure
    from pipeline.run import run  # after the cheap checks: keeps `--help` and errors fast

    run_dir = Path(HydraConfig.get().runtime.output_dir)
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    try:
        code = run(cfg, run_dir, Path(HydraConfig.get().sweep.dir) if multirun else None)
    except UserError as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {error}", file=sys.stderr)
        record_failure(run_dir, cfg, f"{type(error).__name__}: {error}")
        code = USER_ERROR_EXIT
    except KeyboardInterrupt:
        print(f"interrupted: what finished is kept and recorded in {run_dir / 'results.json'}", file=sys.stderr)
        sys.exit(130)
    except Exception as error:
        if not multirun:
            raise
        # In a sweep one job's failure must not stop the others: record it, the summary shows it.
        logging.getLogger("convgraph").exception("job failed")
        record_failure(run_dir, cfg, f"{type(error).__name__}: {error}")
        code = 1
    if code and not multirun:
        sys.exit(code)
    return code


def _terminate(signum, frame):
    raise KeyboardInterrupt  # SIGTERM (a cancelled job): stop like Ctrl-C, recording what finished


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    try:
        check_group_choices(sys.argv[1:])
        check_keys(sys.argv[1:])
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)
    main()
