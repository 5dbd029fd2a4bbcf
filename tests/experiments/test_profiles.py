"""Profiles (campaigns of runs) and the trainer's experiment groups (one run's budget)."""

from __future__ import annotations

from dataclasses import fields

import pytest

import ucms_marl.config  # noqa: F401 - stores the schemas the composition reads
from experiments.profiles import PROFILES, Budget, experiment_budget
from tests.trainer.helpers import compose_cfg

# updates_per_episode: the trainer's updates_per_step times the default env's 10 slots
BUDGET_KEYS = [f.name for f in fields(Budget) if f.name not in ("seeds", "updates_per_episode")]


@pytest.mark.parametrize("name", ["smoke", "quick", "paper"])
def test_experiment_budget_is_what_the_trainer_composes(name):
    cfg = compose_cfg([f"experiment={name}"])
    budget = experiment_budget(name, seeds=3)
    assert budget.seeds == 3
    assert {k: getattr(budget, k) for k in BUDGET_KEYS} == {k: cfg[k] for k in BUDGET_KEYS}
    assert budget.updates_per_episode == round(cfg.updates_per_step * 10)


def test_the_paper_profile_runs_the_paper_experiment():
    """Same name, same budget, one definition: every sweep of the ``paper`` profile is 10 runs
    of ``ucms-train experiment=paper`` (2000 episodes, docs/algorithms.md)."""
    paper = PROFILES["paper"]
    assert set(paper.budgets) == {"main", "nsweep", "energy"}
    for budget in paper.budgets.values():
        assert budget == experiment_budget("paper", seeds=10)
    assert paper.budgets["main"] == Budget(
        seeds=10,
        episodes=2000,
        eval_every=100,
        eval_episodes=20,
        updates_per_episode=2,
        learning_starts=320,
        checkpoint_every=100,
    )


def test_a_shared_name_is_a_shared_budget():
    """``smoke``'s main sweep is ``experiment=smoke``; the campaign of short runs has a name of
    its own (``short``), since ``experiment=quick`` is 1000 episodes."""
    assert PROFILES["smoke"].budgets["main"] == experiment_budget("smoke", seeds=2)
    assert "quick" not in PROFILES
    quick = experiment_budget("quick", seeds=1)
    assert PROFILES["short"].budgets["main"].episodes < quick.episodes
