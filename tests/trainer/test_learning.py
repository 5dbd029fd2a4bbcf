"""A short learning check: MADDPG on ``small`` beats ``random``, ``all_local`` and its own start.

Measured when first written (2 cores, the paper's networks): trained eval cost ≈ 0.083 for
seeds 0, 1, 2 against ≈ 0.21 for ``random``, 0.167 for ``all_local`` and ≈ 0.14-0.18 for the
untrained actors, in about 5 s. The margins asserted
are far from those numbers, so the test is robust, yet an update that did not learn fails it.
"""

from __future__ import annotations

from tests.trainer.helpers import compose_cfg, eval_cost
from ucms_marl.train import run

BUDGET = [
    "env=small", "episodes=120", "eval_every=0", "eval_episodes=10", "num_envs=2",
    "updates_per_step=0.4", "learning_starts=100", "learner.critic_hidden=[128,128]",
    "progress_bar=false", "torch_threads=1", "checkpoint_every=0", "save_replay=false",
]  # fmt: skip


def test_maddpg_beats_random_on_small(tmp_path):
    cfg = compose_cfg(["algo=maddpg", *BUDGET])
    untrained = eval_cost(cfg)
    trained = run(cfg, tmp_path / "maddpg", algo="maddpg")["eval"]["cost"]
    random_cost = eval_cost(compose_cfg(["algo=random", "env=small", "eval_episodes=10"]))
    local_cost = eval_cost(compose_cfg(["algo=all_local", "env=small", "eval_episodes=10"]))
    assert trained < 0.6 * random_cost, (trained, random_cost)
    assert trained < 0.8 * local_cost, (trained, local_cost)
    assert trained < 0.8 * untrained, (trained, untrained)
