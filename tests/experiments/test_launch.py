"""Job lists and Hydra command lines (no training)."""

from __future__ import annotations

import itertools
import json

import pytest

from experiments import catalog, launch
from experiments.launch import Job, group_jobs, hydra_command, plan_sweep, run_is_complete
from experiments.profiles import PROFILES, profile


def _cover(groups):
    return {
        (a, s, n, ref)
        for algos, seeds, ns, ref in groups
        for a, s, n in itertools.product(algos, seeds, ns)
    }


def test_group_jobs_fresh_sweep_is_one_block_per_kind():
    jobs = [Job(a, s, n, False) for a in ("x", "y") for s in range(3) for n in (12, 48)]
    jobs += [Job("g", s, n, True) for s in range(3) for n in (12, 48)]
    groups = group_jobs(jobs)
    assert len(groups) == 2 and groups[0][3] is True  # references first
    assert _cover(groups) == {(j.algo, j.seed, j.n_uds, j.reference) for j in jobs}


def test_group_jobs_partial_sweep_is_covered_exactly():
    jobs = [Job("x", 0, 12, False), Job("x", 1, 12, False), Job("x", 2, 48, False),
            Job("y", 2, 48, False)]  # fmt: skip
    groups = group_jobs(jobs)
    assert _cover(groups) == {(j.algo, j.seed, j.n_uds, j.reference) for j in jobs}
    assert len(_cover(groups)) == sum(len(a) * len(s) * len(n) for a, s, n, _ in groups)


def test_plan_and_commands(tmp_path):
    prof = profile("medium")
    req = catalog.SweepRequest("nsweep", "paper", ["maddpg", "deadline_maddpg"])
    plan = plan_sweep(req, prof, tmp_path)
    assert plan.directory == tmp_path / "medium" / "nsweep-paper"
    assert plan.n_values == list(prof.n_values)
    assert len(plan.jobs) == (2 + 3) * len(prof.n_values) * prof.budget("nsweep", "paper").seeds
    cmd = hydra_command(plan, ["maddpg"], [0, 1], [12, 21], False, launcher="slurm",
                        extra=["hydra.launcher.partition=cpu"])  # fmt: skip
    assert cmd[1:4] == ["-m", "ucms_marl.train", "-m"]
    for piece in (
        "algo=maddpg",
        "seed=0,1",
        "env=paper",
        "env.n_uds=12,21",
        "resume=auto",
        "torch_threads=1",
        "hydra/launcher=slurm",
        "hydra.launcher.partition=cpu",
        f"episodes={prof.budget('nsweep', 'paper').episodes}",
        "hydra.sweep.subdir=${hydra:runtime.choices.algo}/n${env.n_uds}/seed_${seed}",
    ):
        assert piece in cmd, piece  # fmt: skip
    local = hydra_command(plan, ["maddpg"], [0], [None], False)
    assert f"hydra.launcher.n_jobs={prof.n_jobs}" in local
    assert not any(c.startswith("env.n_uds") for c in local)
    with pytest.raises(ValueError, match="--launcher"):
        hydra_command(plan, ["maddpg"], [0], [None], False, launcher="pbs")


def test_references_capped_and_oracle_only_on_small(tmp_path):
    smoke = plan_sweep(catalog.SweepRequest("main", "paper_kb", ["maddpg"]), PROFILES["smoke"],
                       tmp_path)  # fmt: skip
    assert "oracle" in smoke.references  # smoke runs on `small`
    paper = plan_sweep(catalog.SweepRequest("main", "paper_kb", ["maddpg"]), PROFILES["paper"],
                       tmp_path)  # fmt: skip
    assert "oracle" not in paper.references
    assert paper.reference_budget.episodes == launch.REFERENCE_EPISODES_CAP
    assert paper.reference_budget.eval_every == 0  # one evaluation, at the end


def test_missing_algorithms_are_skipped_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog, "algo_config_exists", lambda a: a != "maddpg")
    with pytest.warns(UserWarning, match="skipping maddpg"):
        plan = plan_sweep(catalog.SweepRequest("main", "paper_kb", ["maddpg", "deadline_maddpg"]),
                          PROFILES["short"], tmp_path)  # fmt: skip
    assert plan.learners == ["deadline_maddpg"]


def test_completeness_and_pruning(tmp_path):
    plan = plan_sweep(catalog.SweepRequest("main", "paper_kb", ["maddpg"]), PROFILES["smoke"],
                      tmp_path)  # fmt: skip
    job = next(j for j in plan.jobs if j.algo == "maddpg")
    run = plan.run_dir(job)
    run.mkdir(parents=True)
    (run / "checkpoint.pt").write_bytes(b"x")
    assert not run_is_complete(run, 4)
    (run / "summary.json").write_text(json.dumps({"episodes": 3}))
    assert not run_is_complete(run, 4)
    assert launch.prune_checkpoints(plan) == 0  # an incomplete run keeps its checkpoint
    (run / "summary.json").write_text(json.dumps({"episodes": 4}))
    assert run_is_complete(run, 4) and job not in plan.missing()
    assert launch.prune_checkpoints(plan) == 1 and not (run / "checkpoint.pt").exists()


def test_figure_catalog_is_consistent():
    for fig in catalog.FIGURES.values():
        assert fig.sweep in catalog.SWEEPS
        assert set(fig.algorithms) <= set(catalog.PAPER_ALGORITHMS + catalog.BEYOND_PAPER)
        for prof in PROFILES.values():
            prof.budget(fig.sweep)
    assert catalog.env_for(catalog.FIGURES["fig9"], "paper") == "paper_energy"
    assert catalog.env_for(catalog.FIGURES["fig5"], "paper") == "paper"
    with pytest.raises(ValueError, match="unknown figure"):
        catalog.figures_for(["fig12"])


def test_reproduce_adds_the_oracle_check_on_small_except_where_everything_is_small():
    medium, oracle_env = catalog.reproduce_requests(PROFILES["medium"])
    assert oracle_env == "small"
    sweeps = {(r.sweep, r.env) for r in medium}
    assert {("main", "paper_kb"), ("main", "paper"), ("nsweep", "paper"), ("main", "small"),
            ("energy", "paper_energy")} <= sweeps  # fmt: skip
    smoke, none = catalog.reproduce_requests(
        PROFILES["smoke"]
    )  # smoke already replaces every env by small
    assert none is None and ("main", "small") not in {(r.sweep, r.env) for r in smoke}
