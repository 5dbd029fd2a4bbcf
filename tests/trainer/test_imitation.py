"""PPO's warm start by imitation (``learner.imitation``, ``ucms_marl.learners.imitation``): off
by default, the clone follows its teacher on the teacher's own data, and the CLI runs it.

Measured when written (2 shared cores): on ``queue_small`` with ES agents, 4 teacher episodes
of ``drift_plus_penalty`` and 30 passes, the clone's offload bit agreed with the teacher's on
about 80 % of the UD-slots (the untrained actor: the share of the majority decision at best,
63 %) and the ES head with every approval; about 2 s.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.trainer.helpers import compose_cfg, run_cli
from ucms_marl.learners import imitation
from ucms_marl.rollout import RolloutStore, make_vector_env, play_episodes
from ucms_marl.train import build

TEACHER = ["learner.imitation.policy=drift_plus_penalty"]


def _learner(extra: list[str]):
    cfg = compose_cfg(["algo=ucms_mappo", "env=queue_small", "learner.gamma=0.99",
                       "torch_threads=1", *extra])  # fmt: skip
    learner, env_kwargs, _ = build(cfg)
    return learner, env_kwargs


def _play(env_kwargs):
    envs = make_vector_env(env_kwargs, 2)

    def play(actor, n):
        parts = []
        for start in range(0, n, envs.num_envs):
            store = RolloutStore()
            seeds = [100 + start + i for i in range(min(envs.num_envs, n - start))]
            play_episodes(envs, actor, seeds, explore=False, rollout=store)
            parts.append(store.arrays())
        return {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}

    return play


def test_off_by_default_changes_nothing():
    learner, env_kwargs = _learner([])
    assert compose_cfg(["algo=mappo"]).learner.imitation.episodes == 0
    before = {k: v.clone() for k, v in learner.actor.state_dict().items()}
    rng = learner.rng.bit_generator.state
    assert learner.warm_start(_play(env_kwargs)) == {}
    assert learner.warm_start_warning() is None
    after = learner.actor.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert learner.rng.bit_generator.state == rng


def test_clone_follows_its_teacher_on_its_own_data():
    overrides = [*TEACHER, "learner.imitation.episodes=4", "learner.imitation.epochs=30"]
    learner, env_kwargs = _learner(overrides)
    play = _play(env_kwargs)
    data = play(imitation.teacher(learner, learner.imitation), 4)
    target = data["ud_action"][..., 0] >= 0.5
    majority = max(target.mean(), 1.0 - target.mean())
    stats = learner.warm_start(lambda actor, n: data)
    with torch.no_grad():
        mode = learner.ud_dist(learner._t(data["ud_obs"])).mode()
    agree = float((mode[..., 0] == target).mean())
    assert agree == pytest.approx(stats["ud_x_agreement"])
    assert agree > majority + 0.08  # ~0.80 against 0.63 when written
    # the ES head approves as the teacher did (every request, on this preset)
    assert stats["es_approval_agreement"] > 0.95
    # (f, p): the teacher's f, and p at p_max (1.0 in the action space) up to the margin
    f_err = np.abs(mode[..., 1] - data["ud_action"][..., 1])[target]
    assert float(np.median(f_err)) < 0.15
    # PPO starts from the clone with a fresh optimiser (no Adam moments from the cloning)
    assert not learner.opt.state
    assert set(stats) >= {"ud_value_loss", "es_value_loss", "teacher_return"}
    assert stats["episodes"] == 4


def test_teacher_meant_for_es_agents_warns_without_them():
    learner, _ = _learner(["admission=saving_first", *TEACHER, "learner.imitation.episodes=1"])
    assert not learner.spec.es_agents
    assert "es_agents" in learner.warm_start_warning()


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="not a mec_env policy"):
        _learner(["learner.imitation.policy=nope", "learner.imitation.episodes=1"])
    with pytest.raises(ValueError, match="epochs >= 1"):
        _learner([*TEACHER, "learner.imitation.epochs=0"])


def test_cli_warm_starts_then_evaluates_at_episode_0(tmp_path):
    run_cli(
        ["algo=ucms_mappo", "env=queue_small", "episodes=2", "eval_every=2", "eval_episodes=2",
         "progress_bar=false", "references=false", "learner.rollout_steps=20",
         "learner.ppo_epochs=1", *TEACHER, "learner.imitation.episodes=2",
         "learner.imitation.epochs=2", f"run_root={tmp_path}"],
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    (run_dir,) = [p.parent for p in tmp_path.rglob("summary.json")]
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["phase"] == "warm_start" and records[0]["episodes"] == 2
    assert [r["episode"] for r in records if r["phase"] == "eval"] == [0, 2]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["episodes"] == 2 and 0 < summary["eval"]["cost"] < 10


def test_dagger_labels_the_clone_s_states_with_the_teacher_s_actions():
    overrides = [*TEACHER, "learner.imitation.episodes=2", "learner.imitation.epochs=3",
                 "learner.imitation.dagger_rounds=1"]  # fmt: skip
    learner, env_kwargs = _learner(overrides)
    guide = imitation.teacher(learner, learner.imitation)
    envs = make_vector_env(env_kwargs, 1)
    obs = envs.reset([5])
    acts = imitation.Labelled(learner, guide).act(obs, explore=True)
    # the student acts (its mode), the teacher's answer rides along as the label
    assert np.array_equal(acts.ud, learner.act(obs, explore=False).ud)
    assert np.array_equal(acts.extras["teacher_ud"], guide.act(obs, explore=False).ud)
    assert np.array_equal(acts.extras["teacher_es"], guide.act(obs, explore=False).es)
    played = []

    def play(actor, n):
        played.append(type(actor).__name__)
        return _play(env_kwargs)(actor, n)

    stats = learner.warm_start(play)
    assert played == ["HeuristicLearner", "Labelled"]
    assert stats["episodes"] == 4 and "round_0_return" in stats


def test_runs_saved_before_the_option_resume_with_it_off(tmp_path):
    from ucms_marl.errors import UsageError
    from ucms_marl.train import _check_resumable, _config_container

    current = _config_container(compose_cfg(["algo=mappo"]))
    saved = {**current, "learner": {k: v for k, v in current["learner"].items()
                                    if k != "imitation"}}  # fmt: skip
    _check_resumable(saved, current, tmp_path / "checkpoint.pt")
    current["learner"]["imitation"]["episodes"] = 4
    with pytest.raises(UsageError, match="learner.imitation.episodes"):
        _check_resumable(saved, current, tmp_path / "checkpoint.pt")
