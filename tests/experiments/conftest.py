"""Fixtures of the experiments tests; helpers live in synthetic_runs.py."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# --import-mode=importlib does not put test directories on sys.path: the helpers need it
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_runs import write_run  # noqa: E402

from experiments.profiles import Budget, Profile  # noqa: E402


@pytest.fixture
def tiny_profile() -> Profile:
    """3 seeds x 20 episodes, evaluation every 5, N axis (3, 6), runs on `small`."""
    budget = Budget(seeds=3, episodes=20, eval_every=5, eval_episodes=2, updates_per_episode=1,
                    learning_starts=10, checkpoint_every=0)  # fmt: skip
    return Profile(
        "tiny",
        "synthetic",
        budgets={"main": budget, "nsweep": budget, "energy": budget},
        n_values=(3, 6),
        curve_points=4,
    )


@pytest.fixture
def make_run() -> Callable[..., Path]:
    return write_run
