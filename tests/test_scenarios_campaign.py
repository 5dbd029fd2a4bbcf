"""experiments.scenarios: the campaign's plan, its collection of finished runs, and the page
it generates (targets measured from the numbers, met or missed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments import scenarios, scenarios_report


def _fake_run(job: scenarios.Job, seed: int, cost: float) -> None:
    run = job.run_dir(seed)
    run.mkdir(parents=True)
    (run / "summary.json").write_text(json.dumps({
        "eval": {"cost": cost, "timeout_rate": 0.1, "offload_rate": 0.5},
        "best": {"cost": cost - 0.01}, "wall_time_s": 1.0,
    }))  # fmt: skip
    lines = [{"phase": "eval", "episode": e, "cost": cost + 0.1 / e} for e in (10, 20)]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")


@pytest.fixture
def campaign(tmp_path, monkeypatch):
    monkeypatch.setattr(scenarios, "RUNS", tmp_path / "runs")
    monkeypatch.setattr(scenarios, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(scenarios_report, "RESULTS", tmp_path / "results")
    (tmp_path / "results").mkdir()
    plan = scenarios.Plan().add(
        scenarios.Job("qh", "queue_heavy", "mappo", 20),
        scenarios.Job("qh0", "queue_heavy", "mappo", 20, ("learner.gamma=0.0",), note="γ = 0"),
        scenarios.Job("qs", "queue_small", "mappo", 20),
    )
    return tmp_path, plan


def test_a_job_runs_the_real_trainer_with_the_shared_evaluation_episodes():
    job = scenarios.Job("t", "queue_small", "mappo", 50, ("learner.gamma=0.9",))
    cmd = job.command(3)
    assert cmd[1:3] == ["-m", "ucms_marl.train"]
    assert "eval_seed=1000000" in cmd and "eval_episodes=10" in cmd and "seed=3" in cmd
    assert cmd[-1] == "learner.gamma=0.9" and "references=false" in cmd
    assert {j.tag for j in scenarios.default_plan().jobs} >= {
        "queue_heavy-mappo",
        "queue_heavy-mappo-gamma0",
        "queue_small-mappo-1500",
    }


def test_t_interval_is_the_students_t_interval():
    mean, low, high = scenarios_report.t_interval([1.0, 2.0, 3.0])
    # s = 1, t(0.975, 2) = 4.3027: half-width 4.3027 / sqrt(3) = 2.4841
    assert mean == 2.0 and high - mean == pytest.approx(2.4841, abs=1e-4)
    assert scenarios_report.t_interval([5.0]) == (5.0, 5.0, 5.0)


def test_the_page_states_each_target_from_the_numbers(campaign):
    tmp, plan = campaign
    for s, c in enumerate([0.30, 0.29, 0.31, 0.30, 0.30]):
        _fake_run(plan.jobs[0], s, c)
        _fake_run(plan.jobs[1], s, c + 0.04 + 0.001 * s)
    for s in range(5):
        _fake_run(plan.jobs[2], s, 0.15)
    runs = scenarios.collect(plan)
    assert runs["qh"]["seeds"]["0"]["curve"] == [(10, pytest.approx(0.31)), (20, 0.305)]
    refs = {"queue_heavy": {"greedy": {"cost": 0.34}, "drift_plus_penalty(V=1)": {"cost": 0.32}},
            "queue_small": {"greedy": {"cost": 0.17}}}  # fmt: skip
    bound = {"preset": "queue_small", "mean": 0.14, "episodes": [0.14]}
    page = scenarios_report.write_page(runs, refs, bound, tmp / "scenarios.md")
    text = page.read_text()
    # 0.30 against 0.34: -11.8 %, met; 0.30 <= DPP 0.32: met; 0.15 / 0.14 - 1 = +7.1 %: met
    assert "(-11.8 %; target ≤ −10 %): **met**" in text.replace("+-", "-")
    assert "drift_plus_penalty(V=1) 0.3200 (best V): **met**" in text
    assert "(+7.1 %; target ≤ +15 %): **met**" in text
    assert "they differ significantly" in text  # 0.30 vs 0.342, five seeds each
    assert "not measured" in text  # no γ = 0 runs on queue_small
    assert (tmp / "results" / "curves_queue_heavy.png").exists()
    assert np.isclose(scenarios_report.t_interval([0.30, 0.29, 0.31, 0.30, 0.30])[0], 0.30)


def test_the_screening_section_lists_what_was_tried(campaign, monkeypatch):
    tmp, plan = campaign
    for s in range(5):
        _fake_run(plan.jobs[0], s, 0.30 + 0.001 * s)
        _fake_run(plan.jobs[1], s, 0.40 + 0.001 * s)
    runs = scenarios.collect(plan)
    runs["qh"]["seeds"]["0"]["curve"].insert(0, (0, 0.5))  # a warm start's clone at episode 0
    screen = {
        "runs": [
            {"preset": "queue_heavy", "algo": "drift_plus_penalty", "setting": "a | b",
             "episodes": None, "seed": None, "cost": 0.37, "clone_cost": None},
            {"preset": "queue_heavy", "algo": "ucms_mappo", "setting": "imitation",
             "episodes": 200, "seed": 0, "cost": 0.064, "clone_cost": 0.088},
        ],
    }  # fmt: skip
    # the warm-started row "qh" against its row without the warm start "qh0"
    monkeypatch.setattr(scenarios_report, "WARM_PAIRS", {"queue_heavy": ("qh", "qh0")})
    refs = {"queue_heavy": {"drift_plus_penalty(V=1)": {"cost": 0.25}}}
    page = scenarios_report.write_page(runs, refs, {}, tmp / "scenarios.md", screen=screen)
    text = page.read_text()
    assert "## Closing the gap to drift_plus_penalty" in text
    assert "| `queue_heavy` | drift_plus_penalty | a \\| b | - | - | 0.3700 | - |" in text
    assert "| `queue_heavy` | ucms_mappo | imitation | 200 | 0 | 0.0640 | 0.0880 |" in text
    # 0.302 against 0.402, five seeds each; clone 0.5 (seed 0's episode 0); +21 % from 0.25
    line = next(x for x in text.splitlines() if x.startswith("- `queue_heavy` (campaign"))
    assert "warm-started UCMS_MAPPO 0.3020 [" in line and "against 0.4020 [" in line
    assert "its clone, before fine-tuning, 0.5000" in line
    assert "+21 % from its teacher, **above** it." in line
    # without a screening file the page has no such section
    page = scenarios_report.write_page(runs, refs, {}, tmp / "plain.md")
    assert "Closing the gap" not in page.read_text()


def test_the_warm_started_jobs_imitate_drift_plus_penalty_with_es_agents():
    jobs = {j.tag: j for j in scenarios.default_plan().jobs}
    for tag in ("queue_heavy-ucms_mappo-imitation", "queue_small-ucms_mappo-imitation-1500"):
        job = jobs[tag]
        assert job.algo == "ucms_mappo" and len(job.seeds) == 5  # ES head: the teacher's admission
        assert "learner.imitation.policy=drift_plus_penalty" in job.overrides
        assert scenarios.OWN in job.overrides
    # each has its like-for-like row without the warm start
    assert (
        "learner.imitation.policy=drift_plus_penalty"
        not in jobs["queue_heavy-ucms_mappo-own"].overrides
    )
