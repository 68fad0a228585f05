"""What a user meets at the command line: refusals, protected run dirs, safe checkpoints,
collapse, signals in sweeps. Each through the real CLI, in a subprocess."""

import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mbpo.checkpoint import CHECKPOINT_NAME, CheckpointError, load_checked
from mbpo.checkpoint_file import HEADER_LEN, MAGIC
from mbpo.events import read_scalars
from mbpo.run_dir import hold_run_dir

pytestmark = pytest.mark.cli

ROOT = Path(__file__).resolve().parents[1]
TINY = ["env=hopper", "experiment=debug", "threads=1", "eval_episodes=1"]


def cli(*args, module="mbpo.train", timeout=300, **popen):
    cmd = [sys.executable, "-m", module, *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HYDRA_FULL_ERROR": "0"}, **popen)


def snapshot(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("finished")
    done = cli(*TINY, "total_steps=200", f"hydra.run.dir={run_dir}")
    assert done.returncode == 0, done.stderr
    return run_dir


REFUSED = [
    (["totl_steps=100"], "totl_steps"),
    (["+totl_steps=100"], "totl_steps"),
    (["seed=abc"], "seed=abc"),
    (["seed=-1"], "seed"),
    (["env=foo"], "env=foo"),
    (["rollout.bogus=1"], "rollout.bogus"),
    (["seed=[1"], "seed=[1"),
    (["threads=-3"], "threads"),
    (["rollout=adaptive", "rollout.beta=abc"], "rollout.beta"),
    (["agent.lr=abc"], "agent.lr"),
    (["agent.init_alpha=nan"], "agent.init_alpha"),
    (["agent.init_alpha=inf"], "agent.init_alpha"),
    (["rollout=adaptive", "rollout.h_base=inf"], "rollout.h_base"),
    (["+env.kwargs.healthy_reward=nan"], "env.kwargs.healthy_reward"),
    (["rollout=adaptive", "rollout.uncertainty=everywhere"], "rollout.uncertainty"),
    (["-m", "seed=0,abc"], "seed=abc"),
    (["hydra.run.dir=/etc/hostname/run"], "hydra.run.dir"),
]


@pytest.mark.parametrize("args, field", REFUSED, ids=[f for _, f in REFUSED])
def test_a_refused_command_prints_one_line_exits_2_and_changes_nothing(finished_run, args,
                                                                        field):
    before = snapshot(finished_run)
    run_dir = [] if any(a.startswith("hydra.run.dir") for a in args) else [
        f"hydra.run.dir={finished_run}", "resume=true"]
    out = cli(*TINY, "total_steps=200", *run_dir, *args)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and field in lines[0], out.stderr
    assert snapshot(finished_run) == before


@pytest.mark.parametrize("args", [["resume=true", "rollout.beta=3.0"], ["resume=true", "env=walker2d"]])
def test_a_refused_resume_leaves_the_run_and_its_recorded_config_alone(finished_run, args):
    before = snapshot(finished_run)
    out = cli(*TINY, "total_steps=300", f"hydra.run.dir={finished_run}", *args)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert snapshot(finished_run) == before


def test_a_new_run_never_writes_into_a_run_directory(finished_run, tmp_path):
    before = snapshot(finished_run)
    out = cli(*TINY, "total_steps=300", f"hydra.run.dir={finished_run}")
    assert out.returncode == 2
    assert str(finished_run) in out.stderr and "resume=true" in out.stderr
    assert "another directory" in out.stderr
    assert snapshot(finished_run) == before
    # overwrite=true replaces it on purpose; a stale half-written checkpoint goes too
    copy = tmp_path / "copy"
    copy.mkdir()
    for name, data in before.items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(data)
    (copy / (CHECKPOINT_NAME + ".tmp")).write_bytes(b"half")
    out = cli(*TINY, "total_steps=200", "seed=5", "overwrite=true", f"hydra.run.dir={copy}")
    assert out.returncode == 0, out.stderr
    assert len(list(copy.glob("events.out.tfevents*"))) == 1
    assert not (copy / (CHECKPOINT_NAME + ".tmp")).exists()
    assert "seed: 5" in (copy / ".hydra" / "config.yaml").read_text()
    assert [s for s, _ in read_scalars(copy)["eval/return"]] == [100, 200]


def test_a_refused_fresh_run_leaves_no_directory(tmp_path):
    run_dir = tmp_path / "new"
    out = cli(*TINY, "agent.lr=-1", f"hydra.run.dir={run_dir}")
    assert out.returncode == 2 and "agent.lr" in out.stderr
    assert not run_dir.exists()


class Payload:
    """What an attacker would put in a shared checkpoint: code run on unpickling."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def craft(path: Path, marker: Path) -> None:
    """A checkpoint with a valid header and digest whose payload runs code if unpickled."""
    import hashlib
    import io

    buffer = io.BytesIO()
    torch.save({"meta": {}, "loop": Payload(marker)}, buffer, pickle_protocol=2)
    payload = buffer.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    path.write_bytes(MAGIC + b" 003 sha256=" + digest.encode() + b"\n" + payload)
    # the restricted unpickler refuses it (a plain torch.load would run it)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(io.BytesIO(payload), weights_only=True)


def test_a_checkpoint_crafted_to_run_code_is_refused_by_resume_and_evaluate(finished_run,
                                                                            tmp_path):
    marker = tmp_path / "pwned"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / ".hydra").mkdir()
    (run_dir / ".hydra" / "config.yaml").write_bytes(
        (finished_run / ".hydra" / "config.yaml").read_bytes())
    craft(run_dir / CHECKPOINT_NAME, marker)
    for out in (cli(*TINY, "total_steps=300", "resume=true", f"hydra.run.dir={run_dir}"),
                cli(f"run_dir={run_dir}", module="mbpo.evaluate")):
        assert out.returncode == 2, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "safely" in out.stderr
    assert not marker.exists()


@pytest.mark.parametrize("agent", [
    {"_target_": "os.system", "command": "touch {marker}"},
    {"_target_": "mbpo.sac.SAC", "hidden_size": {"_target_": "os.system",
                                                  "command": "touch {marker}"}},
], ids=["agent-target", "nested-target"])
def test_a_run_config_naming_code_is_refused_by_evaluate(finished_run, tmp_path, agent):
    """`.hydra/config.yaml` of a shared run dir is as untrusted as its checkpoint: evaluate
    builds only mbpo.sac.SAC and never calls a `_target_` the file names."""
    import yaml

    marker = tmp_path / "pwned"
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    cfg = yaml.safe_load((finished_run / ".hydra" / "config.yaml").read_text())
    cfg["agent"] = json.loads(json.dumps(agent).replace("{marker}", str(marker)))
    (run_dir / ".hydra" / "config.yaml").write_text(yaml.safe_dump(cfg))
    (run_dir / CHECKPOINT_NAME).write_bytes((finished_run / CHECKPOINT_NAME).read_bytes())
    out = cli(f"run_dir={run_dir}", "episodes=1", module="mbpo.evaluate")
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "mbpo.sac.SAC" in out.stderr
    assert not marker.exists()


def test_a_damaged_summary_is_one_line_naming_the_file(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for name in (".hydra", CHECKPOINT_NAME):
        os.system(f"cp -r {finished_run / name} {run_dir}")
    (run_dir / "summary.json").write_text('{"total_steps": 200, "summ')
    before = snapshot(run_dir)
    out = cli(*TINY, "total_steps=200", "resume=auto", f"hydra.run.dir={run_dir}")
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "summary.json" in out.stderr
    assert snapshot(run_dir) == before


def test_a_suite_refuses_to_sweep_a_setting_left_out_of_run_dir_names(tmp_path):
    out = subprocess.run([sys.executable, "scripts/bench_learning.py", "--suite", "quick",
                          str(tmp_path / "suite"), "--", "fp32_matmul=mkl,onednn"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "fp32_matmul" in out.stderr and "OUT_DIR" in out.stderr
    assert not (tmp_path / "suite").exists()


def test_bit_flipped_checkpoints_are_refused_with_one_line(finished_run, tmp_path):
    data = bytearray((finished_run / CHECKPOINT_NAME).read_bytes())
    rng = random.Random(0)
    path = tmp_path / CHECKPOINT_NAME
    for _ in range(40):
        flipped = bytearray(data)
        pos = rng.randrange(HEADER_LEN, len(data))
        flipped[pos] ^= 1 << rng.randrange(8)
        path.write_bytes(flipped)
        with pytest.raises(CheckpointError, match="damaged") as info:
            load_checked(path, None)
        assert "\n" not in str(info.value)
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 4
    (finished_run.parent / "flipped").mkdir(exist_ok=True)
    run_dir = finished_run.parent / "flipped"
    for name in (".hydra",):
        os.system(f"cp -r {finished_run / name} {run_dir}")
    (run_dir / CHECKPOINT_NAME).write_bytes(flipped)
    out = cli(*TINY, "total_steps=300", "resume=true", f"hydra.run.dir={run_dir}")
    assert out.returncode == 2 and "damaged" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_extending_a_finished_run_matches_an_uninterrupted_longer_run(finished_run, tmp_path):
    extended = tmp_path / "extended"
    os.system(f"cp -r {finished_run} {extended}")
    assert cli(*TINY, "total_steps=300", "resume=true", f"hydra.run.dir={extended}").returncode == 0
    straight = tmp_path / "straight"
    assert cli(*TINY, "total_steps=300", f"hydra.run.dir={straight}").returncode == 0
    a, b = read_scalars(extended), read_scalars(straight)
    for tag in ("eval/return", "model/holdout_mse", "rollout/horizon", "sac/critic_loss"):
        assert a[tag] == b[tag], tag
    assert [s for s, _ in a["model/holdout_mse"]] == [100, 200]


@pytest.mark.parametrize("setting, field", [("agent.lr=1e10", "agent.lr"),
                                            ("model.trainer.lr=1e8", "model.trainer.lr")])
def test_a_collapsed_run_stops_with_status_3_naming_the_setting(tmp_path, setting, field):
    run_dir = tmp_path / "run"
    out = cli(*TINY, "total_steps=600", "checkpoint_every=100", "max_skipped_updates=100",
              "max_rolled_back_fits=2", setting, f"hydra.run.dir={run_dir}")
    assert out.returncode == 3, out.stderr
    assert field in out.stderr and "collapsed" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "collapsed" in (run_dir / "train.log").read_text()
    assert not (run_dir / "summary.json").exists()


def test_summary_is_strict_json(finished_run):
    json.loads((finished_run / "summary.json").read_text(),
               parse_constant=lambda c: pytest.fail(f"summary.json holds {c}"))


def test_train_log_holds_the_console_lines(finished_run):
    log = (finished_run / "train.log").read_text()
    assert "step     200 | eval" in log and "run dir" in log


def test_ctrl_c_in_a_sweep_checkpoints_the_job_and_starts_no_other(tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "mbpo.train", "-m", *TINY, "total_steps=100000",
           "seed=0,1", "resume=auto", f"hydra.sweep.dir={sweep}",
           "hydra.sweep.subdir=${hydra.job.num}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.time() + 120
    while not list(sweep.glob("0/events.out.tfevents*")) and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, out
    assert (sweep / "0" / CHECKPOINT_NAME).is_file()
    assert not (sweep / "1").exists()


def test_a_gl_backend_that_cannot_load_is_one_line_not_a_traceback(finished_run, monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "no-such-backend")
    for out in (cli(f"run_dir={finished_run}", "video=true", module="mbpo.evaluate"),
                cli(*TINY, f"hydra.run.dir={finished_run}", "resume=true")):
        assert out.returncode == 2, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "MUJOCO_GL" in out.stderr


def test_evaluate_exports_a_plain_policy_file(finished_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(finished_run, run)
    out = cli(f"run_dir={run}", "episodes=1", "export=true", module="mbpo.evaluate")
    assert out.returncode == 0, out.stderr
    assert torch.load(run / "policy.pt", weights_only=True)["format"] == "mbpo-policy 1"


def test_any_gymnasium_env_trains_given_its_termination_rule(tmp_path):
    """Pendulum-v1 with the built-in `never`; a tiny env registered here with its own rule."""
    common = ["experiment=debug", "threads=1", "eval_episodes=1", "total_steps=300"]
    for name, env in (("pendulum", ["env.id=Pendulum-v1", "env.termination=never"]),
                      ("tiny", ["env.id=tests.tiny_env:PointMass-v0",
                                "env.termination=tests.tiny_env:terminated"])):
        run_dir = tmp_path / name
        out = cli(*common, *env, f"hydra.run.dir={run_dir}")
        assert out.returncode == 0, out.stderr
        logged = read_scalars(run_dir)
        assert [s for s, _ in logged["eval/return"]] == [100, 200, 300]
        assert "rollout/horizon" in logged
    refused = cli(*common, "env.id=Pendulum-v1", "env.termination=null",
                  f"hydra.run.dir={tmp_path / 'refused'}")
    assert refused.returncode == 2 and "env.termination" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_a_refusal_for_a_dir_in_use_leaves_that_dir_alone(tmp_path):
    """The holder's directory may still be empty (it is building): the refused command
    must not remove it as the empty directory Hydra made for a refused run."""
    held = tmp_path / "run"
    with hold_run_dir(held):
        out = cli(*TINY, f"hydra.run.dir={held}")
        assert out.returncode == 2 and "is in use by another running process" in out.stderr
        assert held.is_dir()


def test_a_run_dir_in_use_is_refused_until_its_process_ends(tmp_path):
    """A second process on a running run (a resume typed twice, a sweep a killed parent left
    running) is refused with one line and changes nothing; once the first has stopped, the
    same command continues the run."""
    run_dir = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "mbpo.train", *TINY, "total_steps=100000",
                              "checkpoint_every=100", f"hydra.run.dir={run_dir}"],
                             cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run_dir / CHECKPOINT_NAME).is_file() and time.time() < deadline:
        time.sleep(0.1)
    try:
        for resume in ("resume=true", "resume=auto"):
            second = cli(*TINY, "total_steps=100000", f"hydra.run.dir={run_dir}", resume)
            assert second.returncode == 2, second.stderr
            assert second.stderr.strip().splitlines() == [
                f"error: {run_dir} is in use by another running process; stop that run first "
                "(a stopped run continues with resume=true), or give this one another "
                "directory"]
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=120) == 128 + signal.SIGTERM
    stopped = snapshot(run_dir)
    assert "received SIGTERM" in stopped["train.log"].decode()
    assert "is in use" not in stopped["train.log"].decode()  # the refusals wrote nothing
    step = int(stopped["train.log"].decode().split("stopped at step ")[1].split(",")[0])
    shorter = cli(*TINY, f"total_steps={step - 1}", f"hydra.run.dir={run_dir}", "resume=true")
    assert shorter.returncode == 2 and shorter.stderr.strip().splitlines() == [
        f"error: total_steps={step - 1} is below the checkpoint's step {step}: a resume may "
        "extend a run, not shorten it"]
    assert snapshot(run_dir) == stopped
    again = cli(*TINY, f"total_steps={step + 100}", f"hydra.run.dir={run_dir}", "resume=true")
    assert again.returncode == 0, again.stderr
    assert f"resumed at step {step}" in (run_dir / "train.log").read_text()
