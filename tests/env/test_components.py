"""The scenario components (mec_env.sim.components): the defaults are the paper's model, a new
component is a class registered by name (or given by import path) and chosen by its config key,
and the core plays it the same way in the single env and every vector copy, numpy and compiled.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import mec_env
from mec_env.config import ConfigError, make_config
from mec_env.sim import components as comp
from mec_env.sim import fast

KERNELS = ["numpy"] + (["numba"] if fast.available() else [])


class DrawnUniformTasks(comp.UniformTasks):
    """The default tasks, but through ``draw`` (not declared affine)."""

    def affine(self):
        return None


class HalfSizeTasks(comp.TaskModel):
    """Tasks of half the drawn size: a model the core can only call through ``draw``."""

    def draw(self, u):
        cfg = self.config
        lo, hi = cfg.task_bits
        bits = 0.5 * (lo + u[..., 0] * (hi - lo))
        cpb = cfg.cycles_per_bit[0] + u[..., 1] * (cfg.cycles_per_bit[1] - cfg.cycles_per_bit[0])
        deadline = cfg.deadline_s[0] + u[..., 2] * (cfg.deadline_s[1] - cfg.deadline_s[0])
        return bits, cpb, deadline


class OnALine(comp.Mobility):
    """UDs at a uniform position on [0, 1] (one draw per UD and slot)."""

    uniforms_per_ud = 1

    def positions(self, u):
        return u


class DistanceChannel(comp.ChannelModel):
    """Gains falling with the distance to ES m at position m / (M - 1); draws nothing."""

    def __init__(self, cfg):
        super().__init__(cfg)
        self.uniforms_per_ud = 0

    def draw(self, u, positions):
        m = self.config.n_servers
        sites = np.linspace(0.0, 1.0, m)
        lo, hi = self.config.gain_db
        return hi - (hi - lo) * np.abs(positions - sites)


@pytest.fixture
def registered():
    with (
        comp.TASK_MODELS.restored(),
        comp.CHANNELS.restored(),
        comp.MOBILITY.restored(),
        comp.ARRIVALS.restored(),
    ):
        comp.TASK_MODELS.register("drawn_uniform", DrawnUniformTasks)
        comp.TASK_MODELS.register("half_size", HalfSizeTasks)
        comp.MOBILITY.register("on_a_line", OnALine)
        comp.CHANNELS.register("distance", DistanceChannel)
        yield


def play(kernels, num_envs=None, steps=12, **overrides):
    """Each step's per-UD outcomes of copy 0 (single env: ``num_envs`` None)."""
    rng = np.random.default_rng(5)
    cfg = dict(preset="small", es_agents=False, **overrides)
    if num_envs is None:
        env = mec_env.parallel_env(kernels=kernels, **cfg)
        env.reset(seed=3)
        rows = []
        for _ in range(steps):
            act = {a: rng.random(3) for a in env.agents}
            _, rew, _, trunc, info = env.step(act)
            rows.append([rew[a] for a in sorted(rew)] + [info[a]["delay_s"] for a in sorted(info)])
            if all(trunc.values()):
                env.reset(seed=4)
        return np.array(rows)
    env = mec_env.vector_env(num_envs, kernels=kernels, **cfg)
    env.reset(seed=[3] + [10 + j for j in range(num_envs - 1)])
    rows = []
    for _ in range(steps):
        ud = rng.random((6, 3))
        _, rew, _, trunc, info = env.step({"ud": np.repeat(ud[None], num_envs, 0)})
        rows.append(np.concatenate([rew["ud"][0], info["delay_s"][0]]))
        if trunc[0]:
            env.reset(seed=[4] + [20 + j for j in range(num_envs - 1)])
    return np.array(rows)


def test_the_defaults_are_the_papers_model():
    cfg = make_config("paper_kb")
    assert (cfg.arrivals, cfg.task_model, cfg.channel_model, cfg.mobility) == (
        "every_slot",
        "uniform",
        "uniform_db",
        "static",
    )
    scenario = comp.Scenario(cfg)
    assert scenario.uniforms_per_ud == 3 + cfg.n_servers  # the draws of the paper's model
    assert scenario.affine is not None


@pytest.mark.parametrize("kernels", KERNELS)
def test_a_task_model_drawn_by_its_method_gives_the_default_trajectory(registered, kernels):
    assert_array_equal(play(kernels, task_model="drawn_uniform"), play(kernels))
    assert_array_equal(play(kernels, 3, task_model="drawn_uniform"), play(kernels, 3))


@pytest.mark.parametrize("kernels", KERNELS)
def test_new_components_play_alike_single_and_vector(registered, kernels):
    overrides = dict(task_model="half_size", mobility="on_a_line", channel_model="distance")
    single = play(kernels, **overrides)
    assert not np.array_equal(single, play(kernels))
    assert_array_equal(play(kernels, 3, **overrides), single)
    if kernels == "numba":
        assert_array_equal(single, play("numpy", **overrides))


def test_a_component_by_import_path():
    path = "tests.env.test_components:HalfSizeTasks"
    with comp.TASK_MODELS.restored():
        assert make_config("small", task_model=path).task_model == path


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("task_model", "nope", "one of"),
        ("channel_model", 3, "one of"),
        ("mobility", "tests.env.test_components:HalfSizeTasks", "subclass of"),
    ],
)
def test_bad_component_names_are_config_errors(key, value, message):
    with comp.TASK_MODELS.restored(), comp.MOBILITY.restored():
        with pytest.raises(ConfigError, match=message):
            make_config("small", **{key: value})


def test_a_registered_arrival_process_needs_a_queue_and_then_plays(registered):
    class Twice(comp.ArrivalProcess):
        def arrivals(self, u, phase):
            return np.full(phase.shape, 2, dtype=np.int64), phase

    comp.ARRIVALS.register("twice", Twice)
    with pytest.raises(mec_env.ConfigError, match="queue_capacity >= 1"):
        mec_env.parallel_env("small", arrivals="twice")
    env = mec_env.parallel_env("small", arrivals="twice", queue_capacity=4, max_arrivals=2)
    env.reset(seed=0)
    queues = env.unwrapped._core.queues
    assert queues.length.tolist() == [[2] * 6]  # two arrivals each, nothing served yet
    env.step(
        {a: np.zeros(3, np.float32) for a in env.ud_agents}
        | {a: np.zeros(4, np.int8) for a in env.es_agent_names}
    )
    # all local at an idle CPU: one task each served, two more arrived
    assert queues.length.tolist() == [[3] * 6]
