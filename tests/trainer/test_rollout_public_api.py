"""The trainer's rollout is a thin layer over mec_env's public vector env: one config and one
core per vector env, no ParallelEnv on the way, no access to the simulator's core."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

import mec_env
from mec_env.adapters import parallel, vector
from mec_env.sim.core import BatchCore
from ucms_marl.rollout import make_vector_env

UCMS_MARL = Path(__file__).resolve().parents[2] / "ucms_marl"


def _count_builds(monkeypatch) -> dict[str, int]:
    counts = {"config": 0, "core": 0, "parallel_env": 0}

    def counting(key, fn):
        def wrapped(*args, **kwargs):
            counts[key] += 1
            return fn(*args, **kwargs)

        return wrapped

    for module in (parallel, vector):
        monkeypatch.setattr(module, "make_config", counting("config", module.make_config))
    monkeypatch.setattr(BatchCore, "__init__", counting("core", BatchCore.__init__))
    init = mec_env.MECParallelEnv.__init__
    monkeypatch.setattr(mec_env.MECParallelEnv, "__init__", counting("parallel_env", init))
    return counts


def test_a_vector_env_builds_one_config_and_one_core(monkeypatch):
    """(was: two configs, two cores and a hidden ParallelEnv for its spaces)"""
    counts = _count_builds(monkeypatch)
    mec_env.vector_env(4, "small")
    assert counts == {"config": 1, "core": 1, "parallel_env": 0}


def test_the_trainers_vector_env_builds_one_config_and_one_core(monkeypatch):
    """(was: three configs, three cores and two ParallelEnvs, more when spaces were seeded)"""
    counts = _count_builds(monkeypatch)
    envs = make_vector_env({"preset": "small"}, 3)
    envs.seed_action_spaces(0)
    obs = envs.head(2).reset([1, 2])
    envs.envs[0].action_space("ud_0").sample()
    assert obs.ud_obs.shape[0] == 2 and len(obs.slots) == 2
    assert counts == {"config": 1, "core": 1, "parallel_env": 0}


def test_ucms_marl_never_touches_the_core():
    """No ``.core`` / ``._core`` attribute anywhere in ucms_marl: the trainer reaches the
    environment through mec_env's public API only."""
    offenders = []
    for path in sorted(UCMS_MARL.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in ("core", "_core"):
                offenders.append(f"{path.relative_to(UCMS_MARL.parent)}:{node.lineno}")
    assert offenders == []


def test_head_views_step_only_their_copies():
    envs = make_vector_env({"preset": "small"}, 3)
    envs.reset([5, 6, 7])
    head = envs.head(2)
    obs = head.reset([8, 9])
    single = mec_env.parallel_env("small")
    o, _ = single.reset(seed=9)
    np.testing.assert_array_equal(obs.ud_obs[1], np.stack([o[a] for a in single.ud_agents]))
    assert [bool(a) for a in (envs.envs[0].agents, envs.envs[2].agents)] == [True, True]
