"""Components from installed packages' entry points (one group per kind, docs/extending.md).

An installed distribution is a ``*.dist-info`` directory on ``sys.path`` with METADATA and
entry_points.txt; ``importlib.metadata`` finds the one written here the same way it finds a
pip-installed package, with no network and nothing installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mec_env
from mec_env.policies import POLICIES, make_policy
from tests.plugin_example import components

REPO = Path(__file__).resolve().parents[1]
PKG = "tests.plugin_example.components"
ENTRY_POINTS = f"""\
[mec_env.matchers]
ep_fastest = {PKG}:fastest_server
ep_broken = {PKG}:no_such_matcher

[mec_env.admissions]
ep_sjf = {PKG}:shortest_job_first

[mec_env.policies]
ep_local = mec_env.policies:AllLocal

[ucms_marl.learners]
ep_constant = {PKG}:ConstantLearner
"""


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """A distribution 'mec-plugin-example' declaring the components above, on sys.path;
    what its entry points registered is removed afterwards."""
    info = tmp_path / "site" / "mec_plugin_example-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mec-plugin-example\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(info.parent))  # also invalidates importlib's caches
    yield info.parent
    from ucms_marl.learners import LEARNERS

    for registry in (mec_env.MATCHERS, mec_env.ADMISSIONS, POLICIES, LEARNERS):
        for name in [n for n in registry if n.startswith("ep_")]:
            del registry[name]


def test_parallel_env_takes_entry_point_names(installed):
    assert "ep_fastest" not in mec_env.MATCHERS  # loaded lazily, on first lookup
    assert "ep_fastest" in mec_env.MATCHERS.available()
    env = mec_env.parallel_env(preset="small", matcher="ep_fastest", admission="ep_sjf")
    env.reset(seed=0)
    assert mec_env.MATCHERS["ep_fastest"] is components.fastest_server
    assert mec_env.ADMISSIONS["ep_sjf"] is components.shortest_job_first
    assert mec_env.MATCHERS.metadata("ep_fastest")["entry_point"] == (
        f"mec_env.matchers: {PKG}:fastest_server"
    )
    env.step({a: env.action_space(a).sample() for a in env.agents})

    policy = make_policy("ep_local", env)
    assert policy.name == "ep_local" and policy.env_overrides == {}
    assert set(policy(None)) == set(env.agents)

    from ucms_marl.learners import LEARNERS

    assert LEARNERS.get("ep_constant") is components.ConstantLearner


def test_unknown_and_broken_entry_points_are_clear_errors(installed):
    # an unknown name lists the registered names and the declared entry points
    with pytest.raises(mec_env.ConfigError, match=r"'matcher' got 'nope'.*'ep_fastest'"):
        mec_env.parallel_env(preset="small", matcher="nope")
    with pytest.raises(
        mec_env.ConfigError,
        match=r"matcher 'ep_broken': entry point .*no_such_matcher.* failed to load",
    ):
        mec_env.parallel_env(preset="small", matcher="ep_broken")
    with pytest.raises(ValueError, match=r"unknown policy 'nope'; choose one of: .*ep_local"):
        POLICIES.get("nope")


def test_entry_points_are_gone_when_the_package_is(installed, monkeypatch):
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(installed)])
    import importlib

    importlib.invalidate_caches()
    assert "ep_fastest" not in mec_env.MATCHERS.available()
    with pytest.raises(mec_env.ConfigError, match="'matcher' got 'ep_fastest'"):
        mec_env.parallel_env(preset="small", matcher="ep_fastest")


def test_ucms_train_takes_entry_point_names(installed, tmp_path):
    """The learner, matcher and rule by their entry-point names, from the CLI."""
    pytest.importorskip("torch")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), str(installed)]),
        "HYDRA_FULL_ERROR": "1",
    }
    args = [
        "env=small",
        "experiment=smoke",
        "learner=heuristic",
        "learner.name=ep_constant",
        "matcher=ep_fastest",
        "admission=ep_sjf",
        "references=false",
        f"run_root={tmp_path}/runs",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "ucms_marl.train", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (summary_path,) = (tmp_path / "runs").rglob("summary.json")
    config = json.loads((summary_path.parent / "config.json").read_text())
    assert (config["matcher"], config["admission"]) == ("ep_fastest", "ep_sjf")
    assert config["learner"]["name"] == "ep_constant"
    assert 0 < json.loads(summary_path.read_text())["eval"]["cost"] < 1
