"""Components from outside the repository's packages, used by import path: a matcher, an
admission rule and a learner (tests/plugin_example/components.py, docs/extending.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import mec_env
from mec_env.plugins import load
from tests.plugin_example import components
from tests.trainer.helpers import run_cli

PKG = "tests.plugin_example.components"
MATCHER, RULE, LEARNER = (
    f"{PKG}:fastest_server",
    f"{PKG}:shortest_job_first",
    f"{PKG}:ConstantLearner",
)


def test_parallel_env_takes_a_matcher_and_a_rule_by_import_path():
    env = mec_env.parallel_env(preset="small", matcher=MATCHER, admission=RULE)
    env.reset(seed=0)
    assert mec_env.MATCHERS[MATCHER] is components.fastest_server
    assert mec_env.ADMISSIONS[RULE] is components.shortest_job_first
    # the matching is the one the function computes on the env's slot
    tau_o, tau_p, _ = env.current_slot.offload_estimates(env.config.p_max_w)
    server = env.server
    assert (server >= 0).all()
    done = tau_o + tau_p
    counts = np.bincount(server, minlength=env.config.n_servers)
    full = counts >= env.config.z_max
    for n, m in enumerate(server):  # each UD is at its fastest server or that one was full
        best = int(np.argmin(done[n]))
        assert m == best or full[best]
    actions = {a: env.action_space(a).sample() for a in env.agents}
    env.step(actions)


def test_a_bad_import_path_is_one_clear_error():
    with pytest.raises(mec_env.ConfigError, match="cannot import module 'no_such_pkg.mod'"):
        mec_env.parallel_env(preset="small", matcher="no_such_pkg.mod:fn")
    with pytest.raises(mec_env.ConfigError, match="has no attribute 'nothing'"):
        mec_env.parallel_env(preset="small", admission=f"{PKG}:nothing")
    with pytest.raises(ValueError, match="an import path reads 'package.module:attribute'"):
        load(":fn", "matcher")


def test_ucms_train_runs_the_three_plugins(tmp_path):
    """A learner, a matcher and an admission rule from outside, trained/evaluated by the CLI."""
    run_cli(
        [
            "env=small",
            "experiment=smoke",
            "learner=heuristic",
            f"learner.name={LEARNER}",
            f"matcher={MATCHER}",
            f"admission={RULE}",
            "references=false",
            f"run_root={tmp_path}/runs",
        ],
        cwd=tmp_path,
    )
    (summary_path,) = (tmp_path / "runs").rglob("summary.json")
    summary = json.loads(summary_path.read_text())
    assert 0 < summary["eval"]["cost"] < 1
    config = json.loads((summary_path.parent / "config.json").read_text())
    assert config["matcher"] == MATCHER and config["admission"] == RULE
    assert config["learner"]["name"] == LEARNER


def test_a_learner_with_keys_of_its_own_from_outside(tmp_path):
    """A new learner touches two files, both outside the repository: its module
    (components.py) and its config group option (conf/learner/constant.yaml)."""
    conf = Path(components.__file__).parent / "conf"
    run_cli(
        [
            "--config-dir",
            str(conf),
            "env=small",
            "experiment=smoke",
            "learner=constant",
            "references=false",
            f"run_root={tmp_path}/runs",
        ],
        cwd=tmp_path,
    )
    (config_path,) = (tmp_path / "runs").rglob("config.json")
    learner = json.loads(config_path.read_text())["learner"]
    assert learner == {"name": LEARNER, "action": [1.0, 0.25, 1.0]}
