"""What a run is: the default algorithm, the env settings it honours and its folder's name."""

from __future__ import annotations

from tests.trainer.helpers import compose_cfg
from ucms_marl.learners import LEARNERS
from ucms_marl.paths import settings_suffix
from ucms_marl.summary import comparison, trend
from ucms_marl.train import env_kwargs_for


def test_a_heuristic_runs_with_the_admission_and_matcher_the_config_names():
    heuristic = LEARNERS.get("heuristic")
    cfg = compose_cfg(["algo=all_offload", "admission=saving_first", "matcher=co_selection"])
    kwargs = env_kwargs_for(cfg, heuristic)
    assert (kwargs["admission"], kwargs["matcher"], kwargs["es_agents"]) == (
        "saving_first", "co_selection", False,
    )  # fmt: skip
    assert env_kwargs_for(compose_cfg(["algo=greedy"]), heuristic)["admission"] == "saving_first"


def test_run_folders_name_the_settings_overrides():
    assert settings_suffix(["seed=3", "algo=maddpg", "learner.lr_actor=1"]) == ""
    assert settings_suffix(["env.n_uds=24", "admission=saving_first", "seed=1"]) == (
        ",admission=saving_first,n_uds=24"
    )
    long = settings_suffix([f"env.gain_db=[{','.join(['-100.5'] * 8)}]"])
    assert long.startswith(",settings-") and len(long) == len(",settings-") + 8


def test_the_summary_says_equal_within_a_tolerance_and_names_a_run_at_its_best():
    refs = {"greedy": {"cost": 0.04}, "all_local": {"cost": 0.16420001}}
    assert comparison(0.1642, refs) == "  -> equal to all_local; above greedy"
    assert comparison(0.1, refs) == "  -> below all_local; above greedy"
    assert comparison(0.5, refs) == "  -> above every reference policy"
    flat = trend([(100, 0.0441), (200, 0.0441), (300, 0.04410000001)])
    assert flat.startswith("stayed at its best from the first evaluation: 0.0441 at episode 100")
    assert trend([(1, 0.2), (2, 0.1)]).startswith("went down")
    assert trend([(1, 0.1), (2, 0.2)]).startswith("went up from its best at the first evaluation")


def test_the_default_run_is_the_papers_ucms_maddpg_at_the_quick_budget():
    cfg = compose_cfg([])
    assert (cfg.learner.name, cfg.replay.name) == ("ucms", "reward_td_priority")
    assert (cfg.matcher, cfg.admission, cfg.es_agents) == ("co_selection", None, True)
    assert cfg.episodes == compose_cfg(["algo=ucms_maddpg", "experiment=quick"]).episodes == 1000
