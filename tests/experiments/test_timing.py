"""Time estimates from (synthetic) measured timings."""

from __future__ import annotations

import json

import pytest

from experiments import catalog
from experiments.profiles import Budget, Profile
from experiments.timing import JOB_OVERHEAD_S, estimate, makespan, merge_entry


def test_makespan_dispatches_in_order():
    assert makespan([3, 1, 1, 1], 2) == 3
    assert makespan([1, 1, 1, 1, 1], 2) == 3
    assert makespan([2, 2], 1) == 4


def test_merge_keeps_fastest_update_and_averages_the_rest():
    old = {"env_s": 0.1, "update_s": 0.5, "fixed_s": 1.0, "samples": 1}
    new = {"env_s": 0.2, "update_s": 0.4, "fixed_s": 2.0, "samples": 1}
    merged = merge_entry(old, new)
    assert merged == {"env_s": 0.15, "update_s": 0.4, "fixed_s": 1.5, "samples": 2}


def test_estimate_counts_episodes_updates_evaluations_and_saves(tmp_path):
    budget = Budget(seeds=2, episodes=10, eval_every=5, eval_episodes=2, updates_per_episode=2,
                    learning_starts=30, checkpoint_every=0)  # fmt: skip
    prof = Profile("t", "", budgets={"main": budget}, n_jobs=1)
    entries = {
        "paper_kb|maddpg|48": {"env_s": 0.1, "update_s": 1.0, "fixed_s": 0.5},
        "paper_kb|greedy|48": {"env_s": 0.2, "update_s": 0.0, "fixed_s": 0.0},
        "paper_kb|all_local|48": {"env_s": 0.0, "update_s": 0.0, "fixed_s": 0.0},
        "paper_kb|all_offload|48": {"env_s": 0.0, "update_s": 0.0, "fixed_s": 0.0},
    }
    req = catalog.SweepRequest("main", "paper_kb", ["maddpg", "ucms_maddpg"])
    est = estimate([req], prof, tmp_path, {"entries": entries})
    # maddpg: 10 episodes x 0.1 + updates 2 x (10 - 3 + 1) x 1.0 + 3 evals x 2 x 0.1 + 1 save
    maddpg = 1.0 + 16.0 + 0.6 + 0.5 + JOB_OVERHEAD_S
    ucms = 1.0 + 16.0 * 1.5 + 0.6 + 0.5 + JOB_OVERHEAD_S  # not measured: maddpg x 1.5
    greedy = 10 * 0.2 + 3 * 2 * 0.2 + JOB_OVERHEAD_S
    refs = greedy + 2 * JOB_OVERHEAD_S
    row = est["sweeps"][0]
    assert row["runs"] == 2 * (2 + 3)
    assert row["worker_s"] == pytest.approx(2 * (maddpg + ucms + refs))
    assert row["wall_s"] == pytest.approx(row["worker_s"])  # one worker
    assert row["estimated_from_other_measurements"] == ["ucms_maddpg"]


def test_plan_names_an_env_without_timings_instead_of_printing_nan(tmp_path, capsys):
    from experiments.cli import main

    results = tmp_path / "results"
    results.mkdir()
    entries = {"paper_kb|maddpg|48": {"env_s": 0.1, "update_s": 1.0, "fixed_s": 0.5}}
    (results / "timings.json").write_text(json.dumps({"measured": "now", "entries": entries}))
    common = ["--profile", "medium", "--runs-dir", str(tmp_path / "runs"),
              "--results-dir", str(results)]  # fmt: skip
    assert main(["plan", "fig5", "--env", "small", *common]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out
    assert "no timings for env `small`: run `python -m experiments time --profile medium" in out
    assert "total" not in out  # nothing known to add up
    assert main(["plan", "fig5", *common]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out and "main-paper_kb" in out and "min wall" in out
