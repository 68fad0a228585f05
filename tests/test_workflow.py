"""Sweeps through Hydra's launchers, HParams, plots and evaluation, end to end (CLI)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[1]
TINY = ["env=hopper", "experiment=debug", "total_steps=300", "threads=1", "diagnostic_every=100"]
pytestmark = pytest.mark.cli


def cli(*args, timeout=600):
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout + out.stderr


def run_dirs(sweep_dir):
    """Run directories: the sweep's own directory holds only the HParams experiment."""
    return sorted(p.parent for p in Path(sweep_dir).rglob("events.out.tfevents*")
                  if p.parent != Path(sweep_dir))


def hparams_of(run_dir):
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return acc.PluginTagToContent("hparams")


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory):
    sweep = tmp_path_factory.mktemp("joblib")
    cli("-m", "mbpo.train", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
        *TINY, "seed=0,1", "rollout=adaptive", f"hydra.sweep.dir={sweep}")
    return sweep


def test_joblib_sweep_runs_in_parallel_dirs_named_by_overrides_with_hparams(joblib_sweep):
    runs = run_dirs(joblib_sweep)
    assert len(runs) == 2
    # named by the overrides (sorted by Hydra), less those that leave a run's identity
    # unchanged (threads, total_steps: mbpo.config.IDENTITY_FREE), so a re-launch finds them
    assert sorted(r.name for r in runs) == [
        f"{i}_diagnostic_every=100,env=hopper,experiment=debug,rollout=adaptive,seed={i}"
        for i in (0, 1)]
    for run in runs:
        assert "_hparams_/session_start_info" in hparams_of(run)


def test_a_sweep_mixing_schedules_shows_one_hparams_table_with_every_setting(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    cli("-m", "mbpo.train", "-m", *TINY, "seed=0", "rollout=fixed,adaptive",
        f"hydra.sweep.dir={tmp_path}")
    root = hparams_of(tmp_path)
    assert set(root) == {"_hparams_/experiment"}
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        root["_hparams_/experiment"]).experiment
    names = {h.name for h in experiment.hparam_infos}
    assert {"rollout", "seed", "rollout.h", "rollout.beta", "rollout.h_max",
            "rollout.uncertainty"} <= names
    assert {m.name.tag for m in experiment.metric_infos} == {
        "eval/return", "eval/best_return", "eval/auc_return", "rollout/mean_horizon"}
    for run in run_dirs(tmp_path):  # sessions only: the columns come from the sweep's one
        assert set(hparams_of(run)) == {"_hparams_/session_start_info",
                                        "_hparams_/session_end_info"}


def test_submitit_local_sweep_writes_event_files_with_hparams(tmp_path):
    cli("-m", "mbpo.train", "-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10",
        "hydra.launcher.gpus_per_node=0", *TINY, "seed=3", f"hydra.sweep.dir={tmp_path}")
    runs = run_dirs(tmp_path)
    assert len(runs) == 1 and "_hparams_/session_start_info" in hparams_of(runs[0])


def test_plot_script_writes_figures_and_table(joblib_sweep, tmp_path):
    cli("scripts/plot.py", str(joblib_sweep), "--out", str(tmp_path))
    for name in ("return.png", "horizon.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    table = (tmp_path / "results.md").read_text()
    assert "rollout=adaptive" in table and "seed=" not in table
    assert "| 2 |" in table  # the two seeds form one group


def test_diagnostic_plot_from_a_run(joblib_sweep, tmp_path):
    run = run_dirs(joblib_sweep)[0]
    cli("scripts/plot_diagnostic.py", str(run), "--out", str(tmp_path / "diag.png"))
    assert (tmp_path / "diag.png").stat().st_size > 10_000


def test_evaluate_loads_a_finished_run(joblib_sweep):
    out = cli("-m", "mbpo.evaluate", f"run_dir={run_dirs(joblib_sweep)[0]}", "episodes=2")
    assert "Hopper-v5 | policy at step 300 | 2 episodes | return" in out


def test_learning_suite_runs_every_schedule_reports_and_skips_finished_runs(tmp_path):
    args = ("scripts/bench_learning.py", "--suite", "quick", str(tmp_path), "--seeds", "1",
            "--steps", "200", "--", "experiment=debug")
    cli(*args)
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir() if p.is_dir())
    assert runs == [f"env=inverted_pendulum,experiment=debug,rollout={s},seed=0"
                    for s in ("adaptive", "fixed", "linear", "masked")]
    table = (tmp_path / "results.md").read_text()
    for schedule in ("fixed", "linear", "adaptive", "masked"):
        assert f"| {schedule} | 1/1 |" in table
    assert "Not run" not in table
    assert "1 seeds x 4 schedules (" in table
    # the report names the command that wrote it and the sweep that command launched
    assert ("written by `python scripts/bench_learning.py --suite quick "
            f"{tmp_path} --seeds 1 --steps 200 -- experiment=debug`, which launched "
            "`python -m mbpo.train -m env=inverted_pendulum seed=0 ") in table
    assert table.count("| fp32 | yes |") + table.count("| bf16 | yes |") == 4  # as it ran
    for name in ("return.png", "horizon.png"):
        assert (tmp_path / name).stat().st_size > 10_000
    again = cli(*args)  # a re-launched suite does no work for finished runs
    assert again.count("finished earlier (200 steps), skipped") == 4
    invocations = (tmp_path / "invocations.md").read_text()
    assert invocations.count("--suite quick") == 4  # a row as each sitting starts and ends
    assert invocations.count("| started |\n") == 2 and invocations.count("exit 0 |") == 2

    # an ablation next to the suite: only the chosen schedule runs, as a group of its own
    cli(*args[:4], "--schedules", "adaptive", *args[4:], "rollout.beta=1")
    assert len([p for p in (tmp_path / "runs").iterdir() if p.is_dir()]) == 5
    table = (tmp_path / "results.md").read_text()
    assert "| adaptive rollout.beta=1 | 1/1 |" in table
    assert "x 5 schedules (" in table and ", adaptive rollout.beta=1)" in table
    # two suite directories compared seed by seed (here one with itself): the table, then
    # a clear refusal, as one seed per group is too few for the tests
    same = subprocess.run([sys.executable, "scripts/compare_suites.py", str(tmp_path),
                           str(tmp_path), "--suite", "quick", "--steps", "200", "--group",
                           "fixed"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert same.returncode != 0 and "| 0 |" in same.stdout
    assert "need at least 2 finished runs per group (A has 1, B 1)" in same.stderr


def test_a_matched_fixed_arm_runs_at_the_adaptive_arms_mean_length_once_it_finished(tmp_path):
    """hopper20's control: fixed waits for every adaptive seed, then runs at their mean
    realised length, rounded, and reports as the suite's `fixed` arm."""
    args = ("scripts/bench_learning.py", "--suite", "hopper20", str(tmp_path), "--seeds", "1",
            "--steps", "300", "--", "experiment=debug")
    early = subprocess.run([sys.executable, *args[:4], "--schedules", "fixed", *args[4:]],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "waits for the adaptive arm: 0 of 1 seeds finished" in early.stdout
    assert not (tmp_path / "runs").exists()
    out = cli(*args)
    summary = json.loads(next((tmp_path / "runs").glob("*rollout=adaptive*/summary.json"))
                         .read_text())
    h = int(np.floor(summary["summary"]["mean_length"] + 0.5))
    assert f"fixed arm: h = {h} (mean realised length" in out
    fixed = [p.name for p in (tmp_path / "runs").glob("*rollout=fixed*")]
    assert len(fixed) == 1 and f"rollout.h={h}" in fixed[0] and "diagnostic_every=250" in fixed[0]
    table = (tmp_path / "results.md").read_text()
    for arm in ("linear", "adaptive", "fixed"):
        assert f"| {arm} | 1/1 |" in table
    assert "rollout=adaptive,linear " in table and f"rollout.h={h}`" in table
    assert table.count("`python -m mbpo.train -m ") == 2  # both sweeps of the sitting


def test_optuna_sweeper_maximises_the_runs_objective(tmp_path):
    """hydra/sweeper=optuna over beta and h_max: the study's best value is the best of the
    runs' objective (objective=auc: the mean of each run's evaluations)."""
    sweep = tmp_path / "optuna"
    cli("-m", "mbpo.train", "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=2",
        "hydra.sweeper.direction=maximize", "rollout.beta=interval(10,200)",
        "rollout.h_max=int(interval(5,15))", *TINY, "total_steps=200",
        f"hydra.sweep.dir={sweep}")
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())["best_value"]
    aucs = [json.loads(p.read_text())["summary"]["auc_return"]
            for p in sweep.glob("*/summary.json")]
    assert len(aucs) == 2 and best == pytest.approx(max(aucs))


def test_ray_launcher_runs_a_sweep_on_a_local_ray_instance(tmp_path):
    """Part of `test` on purpose: a launcher the README documents fails here, not skips."""
    sweep = tmp_path / "ray"
    cli("-m", "mbpo.train", "-m", "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=1",
        "seed=0,1", *TINY, "total_steps=200", f"hydra.sweep.dir={sweep}")
    assert len(list(sweep.glob("*/summary.json"))) == 2


def test_the_model_free_baseline_is_an_arm_a_suite_can_include(tmp_path):
    cli("scripts/bench_learning.py", "--suite", "quick", str(tmp_path), "--seeds", "1",
        "--steps", "200", "--schedules", "none", "--", "experiment=debug")
    assert "| none | 1/1 |" in (tmp_path / "results.md").read_text()


def test_ctrl_c_to_a_suite_checkpoints_its_runs_and_starts_no_other(tmp_path):
    """SIGINT to the suite script reaches the runs in joblib's workers as SIGTERM (joblib
    would kill its workers on a SIGINT): the running ones checkpoint and stop, the queued
    ones never start, no process is left, and invocations.md gets the sitting's end."""
    args = [sys.executable, "scripts/bench_learning.py", "--suite", "quick", str(tmp_path),
            "--seeds", "2", "--schedules", "fixed,linear", "--steps", "100000", "--jobs", "2",
            "--", "experiment=debug", "checkpoint_every=100"]
    log = tmp_path / "suite.out"
    with log.open("w") as sink:
        suite = subprocess.Popen(args, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.time() + 300
    while len(list(tmp_path.glob("runs/*/checkpoint.pt"))) < 2 and time.time() < deadline:
        time.sleep(0.5)
    suite.send_signal(signal.SIGINT)
    suite.wait(timeout=300)
    out = log.read_text()
    assert suite.returncode == 128 + signal.SIGINT, out[-3000:]
    runs = [p.parent for p in tmp_path.glob("runs/*/train.log")]
    assert len(runs) == 2, out[-3000:]  # the two queued runs never started
    for run in runs:
        assert "received SIGTERM: checkpointing and stopping" in (run / "train.log").read_text()
        assert (run / "checkpoint.pt").is_file()
    assert sorted(p for p in (tmp_path / "runs").iterdir() if p.is_dir()) == sorted(runs)
    ended = (tmp_path / "invocations.md").read_text().splitlines()[-1]
    assert "| ended after" in ended and "stopped by SIGINT |" in ended
    left = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert left.stdout == "", "a run outlived its suite"
