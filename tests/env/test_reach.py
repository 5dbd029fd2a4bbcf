"""Reach (docs/environment.md, "Reach"): ``nearest_servers`` = K, each UD sees and can join
only its K nearest ESs on the map; the exact K-nearest lookup, the matchers' near forms
against their dense forms, links handed over between slots, the observations, presets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from pettingzoo.test import parallel_api_test, parallel_seed_test

import mec_env
from mec_env.config import ConfigError, make_config
from mec_env.errors import MatcherError
from mec_env.sim import components as comp
from mec_env.sim import fast
from mec_env.sim import geometry as geo
from mec_env.sim.matchers.base import MATCHERS, match
from mec_env.sim.matchers.co_selection import co_selection_batched, co_selection_near
from mec_env.sim.matchers.max_gain import max_gain_batched, max_gain_near
from mec_env.sim.state import SlotState, gain_at, server_columns
from tests.env.test_vector import play_both

#: a small city: 480 UDs, 30 ESs on a 200 m grid (6 columns x 5 rows), K = 4
CITY_SMALL = dict(n_uds=480, n_servers=30, area_m=[1200.0, 1000.0])


# ------------------------------------------------------------------ the lookup
@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    m=st.integers(1, 40),
    k=st.integers(1, 6),
    w=st.floats(50.0, 3000.0),
    h=st.floats(50.0, 3000.0),
    grid=st.booleans(),
)
def test_lookup_finds_exactly_the_k_nearest(seed, m, k, w, h, grid):
    k = min(k, m)
    rng = np.random.default_rng(seed)
    sites = geo.grid_sites(m, (w, h)) if grid else rng.random((m, 2)) * (w, h)
    lookup = geo.SiteLookup(sites, (w, h), k)
    points = rng.random((500, 2)) * (w, h)
    points[:4] = [(0.0, 0.0), (w, h), (w, 0.0), (0.0, h)]  # the corners
    idx, dist = lookup.nearest(points)
    delta = points[:, None] - sites
    full = np.square(delta[..., 0]) + np.square(delta[..., 1])  # squared distances
    assert_array_equal(idx, np.argsort(full, axis=1, kind="stable")[:, :k])  # ties: by index
    assert_allclose(dist, np.sqrt(np.take_along_axis(full, idx, 1)))


def test_lookup_by_hand():
    # sites at x = 0, 100, 200, 300 on a line; a point at x = 140 is nearest 100, then 200
    sites = np.array([[0.0, 5.0], [100.0, 5.0], [200.0, 5.0], [300.0, 5.0]])
    lookup = geo.SiteLookup(sites, (300.0, 10.0), 2)
    idx, dist = lookup.nearest(np.array([[140.0, 5.0], [150.0, 5.0], [10.0, 5.0]]))
    assert idx.tolist() == [[1, 2], [1, 2], [0, 1]]  # 150: a tie, the lower index first
    assert_allclose(dist, [[40.0, 60.0], [50.0, 50.0], [10.0, 90.0]])
    with pytest.raises(ValueError, match="k must be in 1..4"):
        geo.SiteLookup(sites, (300.0, 10.0), 5)


# ------------------------------------------------------------------ matchers
def _slots(rng, m, n, batch=3, near_k=None):
    cfg = make_config("paper_kb", n_servers=m, n_uds=n, z_max=int(rng.integers(1, 8)),
                      n_cpus=int(rng.integers(1, 4)))  # fmt: skip
    bits = rng.uniform(*cfg.task_bits, (batch, n))
    cpb = rng.uniform(*cfg.cycles_per_bit, (batch, n))
    gain = 10 ** rng.uniform(-5, 3, (batch, n, m))
    ones = np.ones((batch, n))
    near = np.argsort(rng.random((batch, n, m)), axis=-1)[..., :near_k]
    dense = SlotState(cfg, bits, cpb, ones, gain, ones)
    sparse = SlotState(cfg, bits, cpb, ones, np.take_along_axis(gain, near, -1), ones, near)
    return dense, sparse


@pytest.mark.parametrize("trial", range(25))
def test_near_forms_with_every_server_in_reach_equal_the_dense_forms(trial):
    # K = M, the columns in a random order per UD: the same matching as the dense matcher
    rng = np.random.default_rng(trial)
    dense, sparse = _slots(rng, int(rng.integers(2, 6)), int(rng.integers(2, 30)))
    active = rng.random(dense.bits.shape) < 0.7
    for act in (None, active):
        assert_array_equal(
            co_selection_near(sparse, None, act), co_selection_batched(dense, None, act)
        )
        rngs = [np.random.default_rng(s) for s in range(3)]
        want = max_gain_batched(dense, rngs, act)
        rngs = [np.random.default_rng(s) for s in range(3)]
        assert_array_equal(max_gain_near(sparse, rngs, act), want)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), name=st.sampled_from(["co_selection", "max_gain", "random"]))
def test_near_matching_stays_in_reach_and_fills_what_it_can(seed, name):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(3, 8))
    _, sparse = _slots(rng, m, int(rng.integers(5, 60)), near_k=int(rng.integers(1, 3)))
    server = match(name, sparse, [np.random.default_rng(s) for s in range(3)])
    cfg = sparse.config
    for b in range(3):
        load = np.bincount(server[b][server[b] >= 0], minlength=m)
        assert (load <= cfg.z_max).all()
        matched = server[b] >= 0
        assert (sparse.near[b][matched] == server[b][matched, None]).any(axis=1).all()
        # an unmatched UD has every ES in its reach full
        full = load >= cfg.z_max
        assert full[sparse.near[b][~matched]].all()


def test_a_matcher_without_a_near_form_is_refused():
    rng = np.random.default_rng(0)
    _, sparse = _slots(rng, 4, 8, near_k=2)
    MATCHERS.register("_dense_only", lambda slot, r: np.full(slot.n_uds, -1), overwrite=True)
    try:
        with pytest.raises(MatcherError, match="no form for nearest_servers"):
            match("_dense_only", sparse, [np.random.default_rng(0)] * 3)
    finally:
        del MATCHERS["_dense_only"]


def test_gain_at_and_server_columns_by_hand():
    gain = np.array([[[1.0, 2.0], [3.0, 4.0]]])  # (1, 2 UDs, K = 2)
    near = np.array([[[5, 2], [2, 7]]])
    server = np.array([[2, -1]])
    assert server_columns(server, near).tolist() == [[1, -1]]
    assert gain_at(gain, server, near).tolist() == [[2.0, 3.0]]  # unmatched: column 0
    assert gain_at(gain[..., :1].repeat(8, -1), np.array([[7, 0]])).tolist() == [[1.0, 3.0]]


# ------------------------------------------------------------------ the channel
def test_links_that_stay_in_reach_carry_their_shadowing_new_ones_start_afresh():
    cfg = make_config("urban_mobility", n_uds=1, nearest_servers=2)
    chan = comp.UmiChannel(cfg)
    chan.reset(np.arange(1))
    sites = chan.sites  # (150, 150), (450, 150), (300, 450)
    rng = np.random.default_rng(5)
    u1, u2 = rng.random((2, 1, 1, 6))
    pos1 = np.array([[[200.0, 150.0]]])  # nearest ES 0 then ES 1
    chan.draw(u1, pos1)
    assert chan.near.tolist() == [[[0, 1]]]
    x1 = chan.state["x_shadow"].copy()
    pos2 = np.array([[[300.0, 400.0]]])  # nearest ES 2 (new), then ES 0 / ES 1 (tie: ES 0)
    assert np.hypot(*(pos2[0, 0] - sites).T).argsort(kind="stable")[:2].tolist() == [2, 0]
    chan.draw(u2, pos2)
    assert chan.near.tolist() == [[[2, 0]]]
    z_shadow, z_los = geo.normal_pair(u2[..., 0::3], u2[..., 1::3])
    moved = float(np.hypot(100.0, 250.0))
    x_los = chan.state["x_los"]
    # column 0 (ES 2) is new: its state is the fresh draw; column 1 (ES 0) carries on
    assert chan.state["x_shadow"][0, 0, 0] == z_shadow[0, 0, 0]
    los = geo.normal_cdf(x_los[0, 0, 1]) < geo.umi_los_probability(
        np.hypot(*(pos2[0, 0] - sites[0]))
    )
    corr = geo.SF_CORR_LOS_M if los else geo.SF_CORR_NLOS_M
    want = geo.ar1(x1[0, 0, 0], z_shadow[0, 0, 1], moved, corr)
    assert chan.state["x_shadow"][0, 0, 1] == pytest.approx(want)


# ------------------------------------------------------------------ the env
def test_observations_see_the_k_nearest():
    env = mec_env.parallel_env("city", **CITY_SMALL)
    obs, _ = env.reset(seed=2)
    k = 4
    assert env.observation_space("ud_0").shape == (2 * k + 7,)
    assert obs["ud_0"].shape == (2 * k + 7,)
    core = env._core
    assert core.gain.shape == (1, 480, k) and core.near.shape == (1, 480, k)
    # the one-hot marks the matched ES's column among the K (or "none")
    col = server_columns(core.server, core.near)[0]
    onehot = np.stack([obs[f"ud_{i}"][6 + k :] for i in range(480)])
    assert_array_equal(onehot.argmax(axis=1), np.where(col >= 0, col, k))
    # an ES's places hold each member's gain to that ES (normalised)
    es = obs["es_0"][: 6 * 16].reshape(16, 6)
    members = core.members[0, 0]
    lo, hi = core.config.gain_db
    for j, ud in enumerate(members[members >= 0]):
        g = gain_at(core.gain_db, core.server, core.near)[0, ud]
        assert es[j, 4] == pytest.approx((g - lo) / (hi - lo), rel=1e-6)


def test_observation_size_does_not_grow_with_the_servers():
    small = mec_env.parallel_env("city", **CITY_SMALL)
    big = mec_env.parallel_env("city", n_uds=960, n_servers=60, area_m=[2000.0, 1400.0])
    assert small.observation_space("ud_0").shape == big.observation_space("ud_0").shape


def test_api_and_seed():
    parallel_api_test(mec_env.parallel_env("urban_mobility", nearest_servers=2), num_cycles=30)
    parallel_seed_test(lambda: mec_env.parallel_env("urban_mobility", nearest_servers=2))


@pytest.mark.parametrize("matcher", ["co_selection", "max_gain", "random"])
def test_vector_equals_single(matcher):
    play_both("urban_mobility", num_envs=2, episodes=1, nearest_servers=2, matcher=matcher,
              n_slots=12)  # fmt: skip


def test_city_vector_equals_single():
    play_both("city", num_envs=2, episodes=1, n_uds=96, n_servers=6, area_m=[600.0, 400.0],
              n_slots=8)  # fmt: skip


def test_vector_equals_single_with_queues_and_splits():
    play_both("urban_mobility", num_envs=2, episodes=1, nearest_servers=2, n_slots=12,
              queue_capacity=4, arrivals="bernoulli", arrival_rate=0.6, task_model="dnn",
              actions="offload")  # fmt: skip


def test_city_preset_steps_and_keeps_its_constraints():
    vec = mec_env.vector_env(1, "city", es_agents=False)
    assert vec.config.n_uds == 4800 and vec.config.n_servers == 300
    vec.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(3):
        vec.step({"ud": rng.random((1, 4800, 3))})
        core = vec.core
        srv = core.server[0]
        assert (np.bincount(srv[srv >= 0], minlength=300) <= 16).all()
        assert (core.near[0][srv >= 0] == srv[srv >= 0, None]).any(axis=1).all()


def _play(kernels: str, preset: str, **overrides) -> tuple[object, np.ndarray]:
    env = mec_env.parallel_env(preset, kernels=kernels, **overrides)
    obs, _ = env.reset(seed=11)
    rng = np.random.default_rng(4)
    out = []
    while env.agents:
        act = {
            a: rng.random(3) if a.startswith("ud") else rng.integers(0, 2, 16) for a in env.agents
        }
        obs, rewards, _, _, _ = env.step(act)
        out.append(
            np.concatenate([[rewards[a] for a in env.ud_agents], *[obs[a] for a in sorted(obs)]])
        )
    return env.unwrapped._core.kernels, np.array(out)


@pytest.mark.skipif(not fast.available(), reason="numba not installed")
@pytest.mark.parametrize(
    "overrides",
    [
        dict(preset="urban_mobility", nearest_servers=2),
        dict(preset="city", n_uds=96, n_servers=6, area_m=[600.0, 400.0]),
        dict(preset="city", n_uds=96, n_servers=6, area_m=[600.0, 400.0], es_agents=False,
             admission="saving_first", matcher="max_gain"),
    ],
    ids=["urban_mobility_k2", "city_small", "city_small_rules"],
)  # fmt: skip
def test_numpy_equals_compiled(overrides):
    # the compiled kernels play reach (its matching in the near forms, numpy): the same
    # rewards and observations, bit for bit
    overrides = dict(overrides, n_slots=15)
    kernels, compiled = _play("numba", **overrides)
    assert kernels is not None
    assert_array_equal(compiled, _play("numpy", **overrides)[1])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(preset_name="urban_mobility", nearest_servers=4), "1..n_servers=3"),
        (dict(preset_name="urban_mobility", nearest_servers=0), "1..n_servers=3"),
        (dict(preset_name="urban_mobility", nearest_servers=1.5), "1..n_servers=3"),
        (dict(preset_name="paper_kb", nearest_servers=2), "unless channel_model is 'umi'"),
    ],
)
def test_bad_reach_is_a_one_line_config_error(overrides, message):
    with pytest.raises(ConfigError, match=message) as err:
        make_config(**overrides)
    assert "\n" not in str(err.value)


def test_a_large_map_renders():
    pytest.importorskip("matplotlib")
    env = mec_env.parallel_env("city", render_mode="rgb_array", **CITY_SMALL)
    env.reset(seed=0)
    img = env.render()
    assert img.shape[2] == 3 and img.dtype == np.uint8 and (img < 250).any()
