"""Schedules counted in env-steps (one slot of one env copy), not episodes, and the best
policy kept beside the last (``policy_best.pt``)."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from tests.trainer.helpers import TINY, algo_overrides, compose_cfg
from ucms_marl import checkpoint as ckpt
from ucms_marl.errors import UsageError
from ucms_marl.evaluate import run_evaluation
from ucms_marl.learners.base import step_decay
from ucms_marl.summary import format_summary
from ucms_marl.train import (
    RENAMED_KEYS,
    build,
    check_override_keys,
    run,
    setup,
    updates_due,
    upgraded_config,
)


# ---------------------------------------------------------------------- the arithmetic
def test_updates_due_is_exact_per_ten_slot_episode():
    # 2 updates per 10-slot episode as 0.2 per env-step: exactly 2 per 10 env-steps, always
    assert all(updates_due(0.2, 10 * k) == 2 * k for k in range(20_000))
    assert all(updates_due(0.1, 10 * k) == k for k in range(20_000))
    assert updates_due(0.05, 100) == 5 and updates_due(0.2, 7) == 1 and updates_due(0, 10) == 0


def test_step_decay_is_the_factor_itself_over_its_interval():
    assert step_decay(0.998, 10, 10) == 0.998  # bit for bit: a 10-slot episode, one factor
    assert step_decay(0.998, 0, 10) == 1.0
    assert step_decay(0.998, 100, 10) == pytest.approx(0.998**10, rel=1e-15)


def learner_of(overrides):
    learner, _, _ = build(compose_cfg(["algo=ucms_maddpg", *TINY, *overrides]))
    return learner


def test_noise_and_epsilon_follow_env_steps_whatever_the_episode_length():
    """Ten 10-slot episodes and one 100-slot episode leave the same noise and ε."""
    overrides = ["learner.es_warmup_steps=0", "learner.noise_std_min=0"]
    short, long = learner_of(overrides), learner_of(overrides)
    for k in range(1, 11):
        short.end_episode(10 * k)
    long.end_episode(100)
    assert long.env_steps == short.env_steps == 100
    assert long.noise_std == pytest.approx(short.noise_std, rel=1e-12)
    assert long.es_epsilon == pytest.approx(short.es_epsilon, rel=1e-12)
    assert short.noise_std == pytest.approx(0.3 * 0.998**10, rel=1e-12)


def test_es_warmup_ends_after_its_env_steps_and_epsilon_decays_from_there():
    learner = learner_of(["learner.es_warmup_steps=150", "learner.es_epsilon_min=0"])
    eps0 = learner.es_epsilon
    learner.end_episode(100)  # a 100-slot episode: still warming up
    assert learner.env_steps < 150 and learner.es_epsilon == eps0
    learner.end_episode(200)  # the warm-up ended at 150: 50 env-steps of decay
    assert learner.es_epsilon == pytest.approx(eps0 * 0.99**5, rel=1e-12)


# ---------------------------------------------------------------------- the trainer
SMALL_T100 = [*TINY, "env.n_slots=100", "episodes=2", "eval_every=0", "checkpoint_every=0"]


def test_updates_per_step_gives_long_episodes_the_same_updates_per_env_step(tmp_path):
    short = [*TINY, "episodes=20", "eval_every=0", "checkpoint_every=0", "updates_per_step=0.2"]
    ten = run(compose_cfg(["algo=maddpg", *short]), tmp_path / "t10")
    hundred = run(
        compose_cfg(["algo=maddpg", *SMALL_T100, "updates_per_step=0.2"]), tmp_path / "t100"
    )
    # 200 env-steps each, the replay past learning_starts=10 (smoke) from the first iteration
    assert ten["env_steps"] == hundred["env_steps"] == 200
    assert ten["updates"] == hundred["updates"] == 40


def test_on_policy_rollouts_are_counted_in_env_steps(tmp_path):
    def envs(extra):
        cfg = compose_cfg([*algo_overrides("mappo"), *extra])
        return setup(cfg, tmp_path / "x", "mappo").iteration_envs

    assert envs(["learner.rollout_steps=160"]) == 16  # 16 episodes of 10 slots
    assert (
        envs(["learner.rollout_steps=160", "env.n_slots=100"]) == 2
    )  # rounded up to whole episodes
    assert envs(["learner.rollout_steps=10", "num_envs=3"]) == 3  # at least num_envs


@pytest.mark.parametrize("old", sorted(RENAMED_KEYS))
def test_an_episode_counted_key_names_its_env_step_key(old):
    new, _ = RENAMED_KEYS[old]
    with pytest.raises(UsageError, match=rf"'{old}' is now '{new}', counted in env-steps"):
        check_override_keys([f"{old}=2"])


def test_a_config_stored_before_the_rename_is_upgraded_exactly():
    cfg = compose_cfg(["algo=ucms_maddpg", "env=paper_energy"])
    new = OmegaConf.to_container(cfg, resolve=True)
    old = json.loads(json.dumps(new))
    old["updates_per_episode"] = old.pop("updates_per_step") * 100
    learner = old["learner"]
    learner["es_warmup_episodes"] = learner.pop("es_warmup_steps") // 100
    del learner["noise_decay_steps"], learner["es_epsilon_decay_steps"]
    up = upgraded_config(old)
    assert up["updates_per_step"] == pytest.approx(0.2) and up["learner"]["es_warmup_steps"] == 4000
    assert up["learner"]["noise_decay_steps"] == up["learner"]["es_epsilon_decay_steps"] == 100
    assert upgraded_config(new) == new


# ---------------------------------------------------------------------- policy_best.pt
BEST = [*TINY, "episodes=8", "eval_every=2", "checkpoint_every=2"]


def evals(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["phase"] == "eval"]


def test_the_best_evaluation_is_kept_in_policy_best_pt(tmp_path, capsys):
    summary = run(compose_cfg(["algo=maddpg", *BEST]), tmp_path / "a", algo="maddpg")
    records = evals(tmp_path / "a")
    best = min(records, key=lambda r: r["cost"])  # the first of equal costs
    assert summary["best"]["episode"] == best["episode"]
    assert summary["best"]["cost"] == best["cost"] and summary["best"]["policy"] == "policy_best.pt"
    # each evaluation record carries the best so far
    for i, r in enumerate(records):
        so_far = min(records[: i + 1], key=lambda x: x["cost"])
        assert (r["best_cost"], r["best_episode"]) == (so_far["cost"], so_far["episode"])
    policy = ckpt.load_policy(tmp_path / "a" / "policy_best.pt")  # weights_only, checksummed
    assert policy["episode"] == best["episode"]
    result = run_evaluation(["--checkpoint", str(tmp_path / "a" / "policy_best.pt"),
                             "--no-references", "--episodes", "2"])  # fmt: skip
    assert result["metrics"]["cost"]["mean"] == pytest.approx(best["cost"], rel=1e-6)


def test_resume_keeps_the_best_so_far(tmp_path):
    straight = run(compose_cfg(["algo=maddpg", *BEST]), tmp_path / "straight")
    run(compose_cfg(["algo=maddpg", *BEST, "episodes=4"]), tmp_path / "resumed")
    (tmp_path / "resumed" / "policy_best.pt").unlink()  # the checkpoint holds it
    resumed = run(compose_cfg(["algo=maddpg", *BEST, "resume=true"]), tmp_path / "resumed")
    assert resumed["best"] == straight["best"]
    a, b = (ckpt.load_policy(tmp_path / d / "policy_best.pt") for d in ("straight", "resumed"))
    assert a["episode"] == b["episode"]
    for name, tensor in a["weights"]["actor"].items():
        assert torch.equal(tensor, b["weights"]["actor"][name])


def test_the_summary_names_the_last_and_the_best(tmp_path):
    summary = {
        "algo": "maddpg", "env": "small", "seed": 0, "episodes": 1000, "updates": 1,
        "wall_time_s": 60.0, "eval": {"cost": 0.0601}, "eval_episode": 1000, "eval_episodes": 10,
        "best": {"episode": 700, "cost": 0.0512, "policy": "policy_best.pt"},
        "run_dir": str(tmp_path),
    }  # fmt: skip
    text = format_summary(summary, {"greedy": {"cost": 0.05}}, [(700, 0.0512), (1000, 0.0601)])
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert "best 0.0512 this run, best: policy_best.pt (episode 700)" in lines
    assert "maddpg 0.0601 this run, last: policy.pt (episode 1000)" in lines
    summary["best"] = {"episode": 1000, "cost": 0.0601, "policy": "policy_best.pt"}
    assert "last and best: policy.pt (episode 1000)" in format_summary(summary, {}, [])
