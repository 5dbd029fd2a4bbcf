"""Aggregation on synthetic logs: intervals, smoothing, missing seeds, verdicts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from synthetic_runs import metrics

from experiments import aggregate
from experiments.aggregate import (
    NoRunsError,
    aggregate_figure,
    block_means,
    downsample,
    read_metrics,
    savgol,
    smoothing_window,
    t_interval,
    verdict,
    welch_p,
    write_result,
)
from experiments.catalog import FIGURES
from experiments.records import Smoothing

# Student t quantiles from a printed table: t(0.975, 3) and t(0.975, 1)
T_975_DF3 = 3.182446305284263
T_975_DF1 = 12.706204736174698


def test_t_interval_matches_hand_computation():
    iv = t_interval([1.0, 2.0, 3.0, 4.0])
    s = math.sqrt(((1.5**2) * 2 + (0.5**2) * 2) / 3)  # sample std, ddof = 1
    half = T_975_DF3 * s / 2.0
    assert iv.n == 4
    assert iv.mean == pytest.approx(2.5)
    assert iv.std == pytest.approx(s)
    assert iv.low == pytest.approx(2.5 - half)
    assert iv.high == pytest.approx(2.5 + half)
    assert (iv.low, iv.high) == pytest.approx((0.445740, 4.554260), abs=1e-6)


def test_t_interval_two_seeds_and_edge_cases():
    iv = t_interval([0.0, 1.0])
    half = T_975_DF1 * math.sqrt(0.5) / math.sqrt(2)
    assert (iv.low, iv.high) == pytest.approx((0.5 - half, 0.5 + half))
    one = t_interval([3.0, float("nan"), None])
    assert one.n == 1 and one.mean == 3.0 and math.isnan(one.low) and math.isnan(one.high)
    assert t_interval([]).n == 0 and math.isnan(t_interval([]).mean)


def test_welch_p():
    assert math.isnan(welch_p([1.0], [1.0, 2.0]))
    assert welch_p([1, 1, 1], [2, 2, 2]) == 0.0  # deterministic, different
    assert welch_p([1, 1, 1], [1, 1, 1]) == 1.0
    assert welch_p([0.0, 0.1, 0.2], [5.0, 5.1, 5.2]) < 1e-4
    assert welch_p([0.0, 1.0, 2.0], [0.1, 1.1, 2.1]) > 0.5


def test_savgol_keeps_polynomials_and_smooths_noise():
    x = np.arange(50, dtype=float)
    quad = 0.01 * x**2 - x + 3
    np.testing.assert_allclose(savgol(quad, 11, 2), quad, atol=1e-9)
    rng = np.random.default_rng(0)
    t = np.arange(200, dtype=float)
    truth = np.sin(t / 30)
    noisy = truth + rng.normal(0, 0.3, t.size)
    smooth = savgol(noisy, 21, 2)  # noise variance of SG(21, 2) ~ 0.1 of the input's
    assert np.std(smooth - truth) < 0.6 * np.std(noisy - truth)
    # too short for the window: returned unchanged
    np.testing.assert_array_equal(savgol(np.array([1.0, 2.0]), 5), [1.0, 2.0])


def test_smoothing_window_and_downsampling():
    assert smoothing_window(200, 10) == 21
    assert smoothing_window(8, 10) == 7  # capped at the series, kept odd
    assert smoothing_window(2, 10) == 0  # too short for polyorder 2
    x = np.arange(1, 11)
    xs, ys = downsample(x, x * 10.0, 5)
    np.testing.assert_array_equal(xs, [5, 10])
    np.testing.assert_array_equal(ys, [50.0, 100.0])
    xb, yb = block_means(x, x.astype(float), 4)  # blocks 1-4, 5-8; 9-10 dropped
    np.testing.assert_array_equal(xb, [4, 8])
    np.testing.assert_allclose(yb, [2.5, 6.5])


def test_read_metrics_last_record_wins_and_cut_lines_skipped(tmp_path, make_run):
    run = make_run(
        tmp_path / "r", algo="maddpg", seed=0, episodes=4, eval_every=2,
        train_value=lambda ep: metrics(**{"return": float(ep)}),
        eval_value=lambda ep: metrics(**{"return": 10.0 * ep}),
        duplicate_last_eval=True,
    )  # fmt: skip
    train, evals = read_metrics(run / "metrics.jsonl")
    assert sorted(train) == [1, 2, 3, 4] and sorted(evals) == [2, 4]
    assert evals[4]["return"] == 40.0


def _five_algorithms(tmp_path, make_run, profile, sweep="main", env="paper_kb", **kw):
    """UCMS best of the paper's five by a wide margin, MAPPO (beyond the paper) better still;
    every algorithm's final eval return = level + seed noise."""
    levels = {
        "ucms_maddpg": -0.5, "rd_ucms_maddpg": -1.5, "maddpg": -2.0,
        "offloadcost_maddpg": -1.8, "deadline_maddpg": -1.7,
        "mappo": -0.3, "ippo": -1.0, "ucms_mappo": -0.5,
    }  # fmt: skip
    root = tmp_path / "runs"
    base = root / profile.name / f"{sweep}-{env}"
    seeds = kw.pop("seeds", {a: range(3) for a in levels})
    for algo, level in levels.items():
        for seed in seeds.get(algo, []):
            noise = 0.01 * (seed - 1)
            make_run(
                base / algo / f"seed_{seed}", algo=algo, seed=seed, episodes=20, eval_every=5,
                train_value=lambda ep, lv=level, nz=noise: metrics(
                    **{"return": lv * (1 + 1 / ep) + nz, "participation_rate": 0.5 + lv / 10}
                ),
                eval_value=lambda ep, lv=level, nz=noise: metrics(
                    **{"return": lv + nz, "timeout_rate": -lv / 10}
                ),
                **kw,
            )  # fmt: skip
    for ref, value in (("greedy", -0.7), ("all_local", -3.0), ("all_offload", -2.5)):
        for seed in range(3):
            make_run(
                base / ref / f"seed_{seed}", algo=ref, seed=seed, episodes=20, eval_every=0,
                train_value=lambda ep, v=value: metrics(**{"return": v}),
                eval_value=lambda ep, v=value: metrics(**{"return": v}),
            )  # fmt: skip
            # references evaluate once at the end
            with (base / ref / f"seed_{seed}" / "metrics.jsonl").open("a") as f:
                f.write("\n" + json.dumps({"phase": "eval", "episode": 20, **metrics(
                    **{"return": value})}) + "\n")  # fmt: skip
    return root


def test_figure_finals_intervals_and_verdict(tmp_path, make_run, tiny_profile):
    root = _five_algorithms(tmp_path, make_run, tiny_profile)
    res = aggregate_figure(FIGURES["fig5"], tiny_profile, "paper_kb", root)
    ucms = res.algorithms["ucms_maddpg"].final.interval
    expected = t_interval([-0.51, -0.5, -0.49])
    assert ucms.n == 3 and ucms.mean == pytest.approx(expected.mean)
    assert ucms.low == pytest.approx(expected.low) and ucms.high == pytest.approx(expected.high)
    # curve: eval points at 5, 10, 15, 20 with 3 seeds each
    curve = res.algorithms["maddpg"].curve
    assert [p.x for p in curve] == [5, 10, 15, 20] and all(p.n_seeds == 3 for p in curve)
    assert res.references["greedy"].value == pytest.approx(-0.7)
    assert res.claim.verdict == "held"  # among the paper's five, MAPPO left out
    assert res.claim.ucms_worse_than == ("mappo",)
    assert res.claim.beyond_paper_summary == (
        "UCMS_MADDPG better than IPPO; worse than MAPPO; not separable from UCMS_MAPPO"
    )
    assert "vs MAPPO (beyond the paper): worse by 0.2" in res.claim.beyond_paper
    assert res.messages == ()
    json_path, csv_path = write_result(res, tmp_path / "out")
    assert json.loads(json_path.read_text())["claim"]["verdict"] == "held"
    rows = csv_path.read_text().splitlines()
    assert rows[0] == "series,algo,x,n_seeds,mean,ci95_low,ci95_high"
    assert any(r.startswith("final,ucms_maddpg,,3,") for r in rows)
    assert any(r.startswith("reference,greedy,,,-0.7") for r in rows)


def test_percent_scaling_and_savgol_curve(tmp_path, make_run, tiny_profile):
    root = _five_algorithms(tmp_path, make_run, tiny_profile)
    fig8 = aggregate_figure(FIGURES["fig8"], tiny_profile, "paper_kb", root)
    assert fig8.unit == "%"
    assert fig8.algorithms["maddpg"].final.interval.mean == pytest.approx(20.0)  # 0.2 -> 20 %
    assert fig8.claim.verdict == "held"  # UCMS: 5 % timeouts, the lowest
    fig7 = aggregate_figure(FIGURES["fig7"], tiny_profile, "paper_kb", root)
    # 20 episodes, curve_points 4 -> every 5th episode of the Savitzky-Golay smoothed series
    assert [p.x for p in fig7.algorithms["maddpg"].curve] == [5, 10, 15, 20]
    assert fig7.smoothing == Smoothing(method="savgol", every=5, window=11, polyorder=2)
    # participation constant per run: smoothing keeps it (in %)
    assert fig7.algorithms["maddpg"].curve[0].mean == pytest.approx(30.0)


def test_missing_seeds_warn_and_use_what_exists(tmp_path, make_run, tiny_profile):
    seeds = {a: range(3) for a in FIGURES["fig5"].algorithms}
    seeds["maddpg"] = [0, 2]
    root = _five_algorithms(tmp_path, make_run, tiny_profile, seeds=seeds)
    with pytest.warns(UserWarning, match=r"maddpg: seeds \[1\] missing \(2 of 3 found\)"):
        res = aggregate_figure(FIGURES["fig5"], tiny_profile, "paper_kb", root)
    assert res.algorithms["maddpg"].final.interval.n == 2
    assert res.algorithms["maddpg"].seeds == (0, 2)
    assert any("seeds [1] missing" in m for m in res.messages)


def test_algorithm_without_runs_is_reported_not_fatal(tmp_path, make_run, tiny_profile):
    seeds = {a: range(3) for a in FIGURES["fig5"].algorithms}
    seeds["ucms_maddpg"] = []
    root = _five_algorithms(tmp_path, make_run, tiny_profile, seeds=seeds)
    with pytest.warns(UserWarning, match="ucms_maddpg"):
        res = aggregate_figure(FIGURES["fig5"], tiny_profile, "paper_kb", root)
    assert "ucms_maddpg" not in res.algorithms
    assert res.claim.verdict == "not tested"


def test_no_runs_at_all_is_a_clear_error(tmp_path, tiny_profile):
    with pytest.raises(
        NoRunsError, match=r"(?s)no run of ucms_maddpg, rd_ucms_maddpg.*experiments run"
    ):
        aggregate_figure(FIGURES["fig4"], tiny_profile, "paper_kb", tmp_path / "nothing")


def test_incomplete_run_in_curves_not_in_finals(tmp_path, make_run, tiny_profile):
    root = _five_algorithms(tmp_path, make_run, tiny_profile)
    run = root / "tiny" / "main-paper_kb" / "maddpg" / "seed_3"
    make_run(
        run, algo="maddpg", seed=3, episodes=10, eval_every=5, complete=False,
        train_value=lambda ep: metrics(), eval_value=lambda ep: metrics(**{"return": -9.0}),
    )  # fmt: skip
    with pytest.warns(UserWarning, match="10 of 20 episodes"):
        res = aggregate_figure(FIGURES["fig5"], tiny_profile, "paper_kb", root)
    assert res.algorithms["maddpg"].final.interval.n == 3  # seed 3 left out
    curve = {p.x: p.n_seeds for p in res.algorithms["maddpg"].curve}
    assert curve == {5: 4, 10: 4, 15: 3, 20: 3}


@pytest.mark.filterwarnings("ignore::UserWarning")  # three algorithms and the references absent
def test_vs_n_total_cost(tmp_path, make_run, tiny_profile):
    base = tmp_path / "runs" / "tiny" / "nsweep-paper_kb"
    for algo, per_ud in (("ucms_maddpg", 0.1), ("maddpg", 0.2)):
        for n in (3, 6):
            for seed in range(3):
                make_run(
                    base / algo / f"n{n}" / f"seed_{seed}", algo=algo, seed=seed, episodes=20,
                    eval_every=20, n_uds=n, train_value=lambda ep: metrics(),
                    eval_value=lambda ep, c=per_ud, s=seed: metrics(cost=c + 0.001 * s),
                )  # fmt: skip
    res = aggregate_figure(FIGURES["fig6"], tiny_profile, "paper_kb", tmp_path / "runs")
    # total = mean cost per UD-slot x N x T (small: T = 10)
    assert res.algorithms["ucms_maddpg"].per_n["6"].interval.mean == pytest.approx(
        (0.1 + 0.001) * 6 * 10
    )
    assert res.claim.verdict == "held"
    assert "N = 3: held; N = 6: held" in res.claim.detail


@pytest.mark.parametrize(
    ("finals", "kind", "expected"),
    [
        ({"ucms_maddpg": [1.0, 1.1, 1.2], "maddpg": [0.0, 0.1, 0.2]}, "best", "held"),
        ({"ucms_maddpg": [0.0, 0.1, 0.2], "maddpg": [1.0, 1.1, 1.2]}, "best", "not held"),
        ({"ucms_maddpg": [0.0, 1.0, 2.0], "maddpg": [0.1, 1.0, 1.8]}, "best", "mixed"),
        ({"ucms_maddpg": [0.0, 1.0, 2.0], "maddpg": [0.1, 1.0, 1.8]}, "similar", "held"),
        ({"ucms_maddpg": [1.0, 1.1, 1.2], "maddpg": [0.0, 0.1, 0.2]}, "similar", "not held"),
        ({"maddpg": [0.0, 0.1]}, "best", "not tested"),
    ],
)
def test_verdicts(finals, kind, expected):
    assert verdict(kind, "higher", finals)[0] == expected


def test_beats_uses_final_and_mean_over_training():
    finals = {"ucms_maddpg": [1.0, 1.1, 1.2], "rd_ucms_maddpg": [0.0, 0.1, 0.2], "maddpg": [9.0]}
    means = {"ucms_maddpg": [0.5, 0.6, 0.7], "rd_ucms_maddpg": [0.9, 1.0, 1.1]}
    v, detail = verdict("beats", "higher", finals, rival="rd_ucms_maddpg", means=means)
    assert v == "not held" and "mean over training: worse" in detail  # slower, not faster
    assert "MADDPG" not in detail.replace("RD_UCMS_MADDPG", "").replace("UCMS_MADDPG", "")


def test_similar_ignores_significant_but_tiny_differences():
    finals = {"ucms_maddpg": [97.0, 97.01, 97.02], "maddpg": [97.3, 97.31, 97.32]}
    assert verdict("similar", "lower", finals)[0] == "not held"
    assert verdict("similar", "lower", finals, margin=2.0)[0] == "held"
    finals["maddpg"] = [80.0, 80.1, 80.2]
    assert verdict("similar", "lower", finals, margin=2.0)[0] == "not held"


def test_lower_is_better_sign():
    assert verdict("best", "lower", {"ucms_maddpg": [0.1, 0.11], "maddpg": [0.5, 0.51]})[0] == (
        "held"
    )
    assert aggregate.combine_verdicts({3: ("held", ""), 6: ("mixed", "")})[0] == "mixed"


def test_context_metrics_are_metrics_the_trainer_writes():
    """The context metrics (and the report's tables of them) name metrics.jsonl keys."""
    from experiments.report import TABLE_METRICS
    from ucms_marl.metrics import MEC_KEYS

    assert set(aggregate.CONTEXT_METRICS) <= {"return", *MEC_KEYS}
    assert set(TABLE_METRICS) <= set(aggregate.CONTEXT_METRICS)
