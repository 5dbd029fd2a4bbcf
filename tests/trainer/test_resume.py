"""Checkpoints: an interrupted run resumes at the right episode with its state restored."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tests.trainer.helpers import REPO, TINY, compose_cfg
from ucms_marl import checkpoint as ckpt
from ucms_marl.errors import UsageError
from ucms_marl.learners.maddpg import MADDPG
from ucms_marl.train import run

# 8 episodes in batches of 2, a checkpoint every 2, an update after every episode
BUDGET = [*TINY, "episodes=8", "checkpoint_every=2", "eval_every=4", "replay=reward_td_priority"]


def lines(path):
    return path.read_text().splitlines()


def test_resume_after_a_crash_reproduces_the_uninterrupted_run(tmp_path, monkeypatch):
    cfg = compose_cfg(["algo=maddpg", *BUDGET])
    straight = run(cfg, tmp_path / "straight", algo="maddpg")

    calls = {"n": 0}
    real_update = MADDPG.update

    def crashing_update(self, sample):
        calls["n"] += 1
        if calls["n"] == 5:  # inside episode batch 5-6, after the checkpoint at episode 4
            raise KeyboardInterrupt("simulated crash")
        return real_update(self, sample)

    monkeypatch.setattr(MADDPG, "update", crashing_update)
    with pytest.raises(KeyboardInterrupt):
        run(cfg, tmp_path / "crashed", algo="maddpg")
    state = ckpt.load(tmp_path / "crashed" / "checkpoint.pt")
    assert state["episode"] == 4 and state["updates"] == 4  # one update per episode
    # the optimisers' state is in the checkpoint: Adam has taken one step per update
    adam_steps = {float(s["step"]) for s in state["learner"]["critic_opt"]["state"].values()}
    assert adam_steps == {4.0}
    monkeypatch.setattr(MADDPG, "update", real_update)

    resumed_cfg = compose_cfg(["algo=maddpg", *BUDGET, "resume=true"])
    resumed = run(resumed_cfg, tmp_path / "crashed", algo="maddpg")
    assert resumed["episodes"] == 8 and resumed["updates"] == straight["updates"]
    assert resumed["eval"] == straight["eval"]
    assert lines(tmp_path / "crashed" / "metrics.jsonl") == lines(
        tmp_path / "straight" / "metrics.jsonl"
    )
    a = ckpt.load(tmp_path / "straight" / "checkpoint.pt")["learner"]
    b = ckpt.load(tmp_path / "crashed" / "checkpoint.pt")["learner"]
    for key in ("actor", "critic", "critic_target"):
        for name, tensor in a[key].items():
            torch.testing.assert_close(tensor, b[key][name], rtol=0, atol=0)


def test_resume_refuses_a_changed_config_and_fresh_runs_refuse_to_overwrite(tmp_path):
    run(compose_cfg(["algo=maddpg", *TINY]), tmp_path, algo="maddpg")
    with pytest.raises(UsageError, match="exists: continue that run with resume=true"):
        run(compose_cfg(["algo=maddpg", *TINY]), tmp_path, algo="maddpg")
    with pytest.raises(UsageError, match=r"checkpoint.pt's in learner.lr_actor: 0.0003 -> 0.1;"):
        run(compose_cfg(["algo=maddpg", *TINY, "resume=true", "learner.lr_actor=0.1"]), tmp_path)
    # a longer budget is allowed: the run continues from episode 4 to 6
    summary = run(compose_cfg(["algo=maddpg", *TINY, "resume=true", "episodes=6"]), tmp_path)
    assert summary["episodes"] == 6
    # resuming a finished run changes nothing and logs nothing twice
    before = (tmp_path / "metrics.jsonl").read_text()
    again = run(compose_cfg(["algo=maddpg", *TINY, "resume=true", "episodes=6"]), tmp_path)
    assert again["eval"] == summary["eval"] and again["episodes"] == 6
    assert (tmp_path / "metrics.jsonl").read_text() == before


def test_sigkill_loses_at_most_one_checkpoint_interval(tmp_path):
    args = [
        "algo=maddpg", *TINY, "episodes=400", "checkpoint_every=4", "eval_every=0",
        "eval_episodes=1", f"hydra.run.dir={tmp_path}",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ucms_marl.train", *args],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    path = tmp_path / "checkpoint.pt"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if path.exists() and ckpt.load(path)["episode"] >= 8:
                break
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint at episode >= 8 within 120 s")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    saved = ckpt.load(path)["episode"]
    records = [json.loads(x) for x in lines(tmp_path / "metrics.jsonl") if x.strip().endswith("}")]
    played = max(r["episode"] for r in records)
    assert played - saved < 4 + 2  # at most one interval (plus the batch in flight) is lost

    cfg = compose_cfg(["algo=maddpg", *TINY, "episodes=24", "checkpoint_every=4", "resume=true"])
    summary = run(cfg, tmp_path, algo="maddpg")
    assert summary["episodes"] == 24
    train = [json.loads(x)["episode"] for x in lines(tmp_path / "metrics.jsonl") if '"train"' in x]
    assert train == list(range(1, 25))  # no episode lost or logged twice


def test_resume_true_needs_a_checkpoint_and_auto_starts_fresh(tmp_path):
    with pytest.raises(UsageError, match="resume=true but .* has no checkpoint.pt: nothing to"):
        run(compose_cfg(["algo=maddpg", *TINY, "resume=true"]), tmp_path)
    assert not (tmp_path / "metrics.jsonl").exists()  # nothing was started
    stale = tmp_path / ".checkpoint.pt.x1y2.tmp"  # left by a write that was killed
    stale.write_bytes(b"\0" * 10)
    fresh = run(compose_cfg(["algo=maddpg", *TINY, "resume=auto"]), tmp_path)
    assert fresh["episodes"] == 4 and not stale.exists()
    longer = run(compose_cfg(["algo=maddpg", *TINY, "resume=auto", "episodes=6"]), tmp_path)
    assert longer["episodes"] == 6 and longer["updates"] > fresh["updates"]


def test_tensorboard_keeps_every_point_after_resume(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    every = [*TINY, "eval_every=1", "eval_episodes=1", "checkpoint_every=2", "num_envs=1"]
    run(compose_cfg(["algo=maddpg", *every, "episodes=4"]), tmp_path)
    run(compose_cfg(["algo=maddpg", *every, "episodes=8", "resume=true"]), tmp_path)
    events = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    assert [e.step for e in events.Scalars("eval/cost")] == list(range(1, 9))


def test_ctrl_c_saves_a_checkpoint_at_the_iteration_boundary(tmp_path, monkeypatch, request):
    from ucms_marl import train

    real_iteration = train.train_iteration

    def interrupted_iteration(session, progress):
        real_iteration(session, progress)
        if progress.episode == 4:  # Ctrl-C arrives as this iteration ends
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(train, "train_iteration", interrupted_iteration)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    request.addfinalizer(lambda: signal.signal(signal.SIGINT, previous))
    budget = [*TINY, "episodes=8", "checkpoint_every=0"]
    with pytest.raises(train.Interrupted, match="interrupted at episode 4 of 8; saved"):
        run(compose_cfg(["algo=maddpg", *budget]), tmp_path)
    assert ckpt.load(tmp_path / "checkpoint.pt")["episode"] == 4
    monkeypatch.setattr(train, "train_iteration", real_iteration)
    assert run(compose_cfg(["algo=maddpg", *budget, "resume=true"]), tmp_path)["episodes"] == 8
    assert train.resume_command(["algo=maddpg", "resume=false", "env.n_uds=[3, 4]"]) == (
        "ucms-train algo=maddpg 'env.n_uds=[3, 4]' resume=true"
    )
