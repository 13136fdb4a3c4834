"""Launcher configs: `hydra/launcher=slurm` resolves to an exclusive-node submitit job whose cpus are the
benchmark's threads (there is no SLURM here: the sbatch header submitit would submit is rendered and read)."""
from hydra import compose, initialize_config_dir
from submitit.slurm.slurm import _make_sbatch_string

from pipeline.config import CONF_DIR


def _launcher(*overrides):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["+graph=openvino", *overrides], return_hydra_config=True)
    return cfg.hydra.launcher


def test_slurm_launcher_resolves_to_exclusive_node_with_bench_threads(tmp_path):
    launcher = _launcher("hydra/launcher=slurm", "bench.threads=4", "hydra.launcher.partition=cpu")
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.cpus_per_task == 4 and launcher.partition == "cpu"
    assert launcher.additional_parameters.exclusive is True and launcher.timeout_min == 120
    header = _make_sbatch_string(command="python -c pass", folder=tmp_path, partition=launcher.partition,
                                 cpus_per_task=launcher.cpus_per_task, time=launcher.timeout_min,
                                 additional_parameters=dict(launcher.additional_parameters))
    for line in ("#SBATCH --partition=cpu", "#SBATCH --cpus-per-task=4", "#SBATCH --exclusive", "#SBATCH --time=120"):
        assert line in header, header


def test_slurm_without_threads_takes_the_whole_exclusive_node():
    launcher = _launcher("hydra/launcher=slurm")
    assert launcher.cpus_per_task is None and launcher.additional_parameters.exclusive is True


def test_submitit_local_is_available():
    assert _launcher("hydra/launcher=submitit_local")._target_.endswith("LocalLauncher")
