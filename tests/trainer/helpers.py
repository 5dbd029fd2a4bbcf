"""Helpers for the trainer tests: compose the real config and run the real entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_module

REPO = Path(__file__).resolve().parents[2]
# tiny budgets on the small preset: every part of the loop runs, in about a second
TINY = [
    "env=small", "experiment=smoke", "progress_bar=false", "torch_threads=1",
    "learner.batch_size=16", "learner.critic_hidden=[32,32]", "learner.actor_hidden=[16,16]",
]  # fmt: skip


def compose_cfg(overrides: list[str]):
    with initialize_config_module("ucms_marl.conf", version_base="1.3"):
        return compose("config", overrides=overrides)


# on-policy learners (MAPPO, IPPO): two updates of 2 episodes each within TINY's 4 episodes
TINY_ON_POLICY = ["learner.rollout_steps=20", "learner.ppo_epochs=2"]


def algo_overrides(algo: str) -> list[str]:
    """TINY (and TINY_ON_POLICY) for ``algo``; the learner.* keys only where the learner has
    them."""
    learner = compose_cfg([f"algo={algo}"]).learner
    return [f"algo={algo}"] + [
        o
        for o in (*TINY, *TINY_ON_POLICY)
        if not o.startswith("learner.") or o[8:].split("=")[0] in learner
    ]


def run_cli(args: list[str], cwd: Path, module: str = "ucms_marl.train", timeout: float = 180):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYDRA_FULL_ERROR": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert proc.returncode == 0, (
        f"{module} {args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )
    return proc


def eval_error(argv: list[str], capsys) -> str:
    """The one line ``ucms-eval argv`` prints on stderr when it stops with exit status 2."""
    import pytest

    from ucms_marl import evaluate

    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp, pytest.raises(SystemExit) as exit_info:
        mp.delenv("HYDRA_FULL_ERROR", raising=False)
        evaluate.run_evaluation(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def eval_cost(cfg) -> float:
    """Mean evaluation cost of ``cfg``'s learner as built (untrained, or a heuristic), on the
    fixed evaluation episodes."""
    from ucms_marl.rollout import evaluate, make_vector_env, mean_metrics
    from ucms_marl.train import build

    learner, env_kwargs, _ = build(cfg)
    envs = make_vector_env(env_kwargs, 5)
    return mean_metrics(evaluate(envs, learner, cfg.eval_episodes, cfg.eval_seed))["cost"]
