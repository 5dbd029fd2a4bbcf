"""The map (docs/environment.md, "The map"): 3GPP TR 38.901 UMi path loss by hand, shadowing and
fading statistics, positions after known moves (random waypoint, Gauss-Markov), positions stay
in the area, and the ``urban_mobility`` preset in the env: PettingZoo's tests (test_api.py
runs them on every preset), vector == single, numpy == compiled, staggered auto-resets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import mec_env
from mec_env.config import ConfigError, make_config
from mec_env.sim import components as comp
from mec_env.sim import fast
from mec_env.sim import geometry as geo
from tests.env.test_vector import play_both

PRESET = "urban_mobility"

# ------------------------------------------------------------------ path loss by hand
# f_c = 3.5 GHz, h_BS = 10 m, h_UT = 1.5 m: d_3D = sqrt(d² + 8.5²);
# d'_BP = 4 (10 - 1)(1.5 - 1) 3.5e9 / 299792458 = 210.145 m
D_BP = 4 * 9 * 0.5 * 3.5e9 / 299_792_458


def _d3(d):
    return math.sqrt(d * d + 8.5**2)


def test_breakpoint_distance():
    assert geo.breakpoint_distance_m(3.5) == pytest.approx(210.1454, abs=1e-4)


@pytest.mark.parametrize(
    ("d", "los", "nlos"),
    [
        # 10 m: PL1 = 32.4 + 21 log10(13.1244) + 20 log10(3.5) = 32.4 + 23.480 + 10.881
        # NLOS: 35.3 log10(13.1244) + 22.4 + 21.3 log10(3.5) = 39.468 + 22.4 + 11.589
        (10.0, 66.7610, 73.4569),
        # 100 m (< d'_BP): PL1 = 32.4 + 21 log10(100.3606) + 10.881
        (100.0, 85.3142, 104.6438),
        # 500 m (> d'_BP): PL2 = 32.4 + 40 log10(500.0722) + 10.881 − 9.5 log10(210.145² + 8.5²)
        (500.0, 107.1080, 129.2645),
    ],
)
def test_umi_path_loss_by_hand(d, los, nlos):
    d3 = _d3(d)
    pl1 = 32.4 + 21 * math.log10(d3) + 20 * math.log10(3.5)
    pl2 = 32.4 + 40 * math.log10(d3) + 20 * math.log10(3.5) - 9.5 * math.log10(D_BP**2 + 8.5**2)
    by_hand_los = pl1 if d <= D_BP else pl2
    by_hand_nlos = max(by_hand_los, 35.3 * math.log10(d3) + 22.4 + 21.3 * math.log10(3.5))
    assert by_hand_los == pytest.approx(los, abs=1e-4)
    assert by_hand_nlos == pytest.approx(nlos, abs=1e-4)
    assert float(geo.umi_los_db(d, 3.5)) == pytest.approx(by_hand_los, abs=1e-9)
    assert float(geo.umi_nlos_db(d, 3.5)) == pytest.approx(by_hand_nlos, abs=1e-9)


def test_los_probability_and_noise_by_hand():
    # 1 up to 18 m; 100 m: 18/100 + e^(−100/36) (1 − 18/100) = 0.18 + 0.06218·0.82
    assert_allclose(geo.umi_los_probability([5.0, 10.0, 18.0]), 1.0)
    assert float(geo.umi_los_probability(100.0)) == pytest.approx(
        0.18 + math.exp(-100 / 36) * 0.82, rel=1e-12
    )
    assert float(geo.umi_los_probability(100.0)) == pytest.approx(0.23098, abs=1e-5)
    # W/K = 40 MHz / 10: −174 + 10 log10(4e6) + 5 − 30 = −132.979 dBW
    assert float(geo.noise_dbw(4e6, 5.0)) == pytest.approx(-132.9794, abs=1e-4)
    # g = −PL − SF + 10 log10|h|² − σ²: a 100 m LOS link, no shadowing, |h|² = 1
    assert float(geo.gain_db(85.3142, 0.0, 1.0, -132.9794)) == pytest.approx(47.6652, abs=1e-4)


# ------------------------------------------------------------------ shadowing, fading: laws
def test_draws_have_their_laws():
    rng = np.random.default_rng(0)
    u1, u2, u3 = rng.random((3, 200_000))
    z1, z2 = geo.normal_pair(u1, u2)
    for z in (z1, z2):
        assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    assert abs(np.corrcoef(z1, z2)[0, 1]) < 0.01
    f = geo.rayleigh_power(u3)  # Exp(1): mean 1, variance 1
    assert abs(f.mean() - 1.0) < 0.01 and abs(f.var() - 1.0) < 0.03
    x = np.linspace(-6, 6, 1001)
    exact = np.array([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x])
    assert_allclose(geo.normal_cdf(x), exact, atol=2e-7)
    # AR(1) over the distance moved: unit variance kept, correlation e^(−Δd/d_corr)
    x1 = geo.ar1(z1, z2, 5.0, 10.0)
    assert abs(x1.std() - 1.0) < 0.01
    assert np.corrcoef(z1, x1)[0, 1] == pytest.approx(math.exp(-0.5), abs=0.01)
    assert_array_equal(geo.ar1(z1, z2, 0.0, 10.0), z1)  # standing still: unchanged


def _channel(n_copies, **overrides):
    cfg = make_config(PRESET, n_uds=1, **overrides)
    chan = comp.UmiChannel(cfg)
    chan.reset(np.arange(n_copies))
    return cfg, chan


def test_umi_channel_los_share_and_shadowing_spread():
    # 20000 copies of one UD 100 m from ES 0 (at its first draw: the stationary laws)
    cfg, chan = _channel(20_000, gain_db=[-120.0, 200.0])
    site = chan.sites[0]
    pos = np.broadcast_to(site + [100.0, 0.0], (20_000, 1, 2)).copy()
    u = np.random.default_rng(1).random((20_000, 1, 3 * cfg.n_servers))
    g = chan.draw(u, pos)[:, 0, 0]
    z_shadow, z_los = geo.normal_pair(u[:, 0, 0], u[:, 0, 1])
    los = geo.normal_cdf(z_los) < geo.umi_los_probability(100.0)
    assert los.mean() == pytest.approx(0.231, abs=0.015)
    noise = float(geo.noise_dbw(cfg.subchannel_bw_hz[0], 5.0))
    # NLOS residual: −7.82 x_S + 10 log10 Exp(1): mean −2.51 dB (−10 γ / ln 10), variance
    # 7.82² + (10 / ln 10)² π² / 6 = 61.2 + 31.0
    rest = g[~los] + float(geo.umi_nlos_db(100.0, 3.5)) + noise
    assert rest.mean() == pytest.approx(-2.507, abs=0.25)
    assert rest.std() == pytest.approx(math.sqrt(61.15 + 31.03), abs=0.25)


def test_umi_channel_standing_still_changes_only_the_fading():
    cfg, chan = _channel(3)
    pos = np.array([[[100.0, 120.0]], [[300.0, 300.0]], [[590.0, 10.0]]])
    rng = np.random.default_rng(2)
    u1, u2 = rng.random((2, 3, 1, 3 * cfg.n_servers))
    g1 = chan.draw(u1, pos)
    state = {k: v.copy() for k, v in chan.state.items()}
    g2 = chan.draw(u2, pos)
    assert_array_equal(chan.state["x_shadow"], state["x_shadow"])  # ρ = 1: unchanged
    assert_array_equal(chan.state["x_los"], state["x_los"])
    fade = 10 * np.log10(geo.rayleigh_power(u2[..., 2::3]) / geo.rayleigh_power(u1[..., 2::3]))
    inside = (g1 > -10) & (g1 < 60) & (g2 > -10) & (g2 < 60)
    assert_allclose((g2 - g1)[inside], fade[inside], atol=1e-9)


# ------------------------------------------------------------------ moves by hand
def _mobility(name, **overrides):
    cfg = make_config(PRESET, n_uds=1, mobility=name, **overrides)
    mob = comp.MOBILITY[name](cfg)
    mob.reset(np.array([0]))
    return mob


def test_random_waypoint_reaches_its_waypoint_and_pauses():
    mob = _mobility("random_waypoint", ud_speed_mps=[2.0, 2.0], ud_pause_s=0.3)
    step = lambda *u: mob.positions(np.array([[u]]))[0, 0]  # noqa: E731
    assert_allclose(step(0.5, 0.5, 0.9), [300.0, 300.0])  # placed at 600·u
    # waypoint (300, 300.5) at 2 m/s: 0.2 m per 0.1 s slot
    wx, wy = 0.5, 300.5 / 600
    assert_allclose(step(wx, wy, 0.3), [300.0, 300.2], atol=1e-9)
    assert_allclose(step(0.1, 0.1, 0.1), [300.0, 300.4], atol=1e-9)  # not picking: u unread
    assert_allclose(step(0.1, 0.1, 0.1), [300.0, 300.5], atol=1e-9)  # 0.1 m left: arrives
    for _ in range(3):  # pauses 0.3 s = 3 slots, whatever the draws
        assert_allclose(step(0.0, 0.0, 0.0), [300.0, 300.5], atol=1e-9)
    assert_allclose(step(0.0, wy, 0.7), [299.8, 300.5], atol=1e-9)  # new waypoint (0, 300.5)
    assert mob.state["going"][0, 0] and mob.state["pause"][0, 0] == 0


def test_gauss_markov_moves_by_hand():
    mob = _mobility("gauss_markov", ud_speed_mps=[1.0, 3.0], mobility_memory=0.5)
    # s̄ = 2, σ_s = 2 / sqrt(12), σ_θ = π/4, α = 0.5: sqrt(1 − α²) σ_s = 0.5
    step = lambda *u: mob.positions(np.array([[u]]))[0, 0]  # noqa: E731
    assert_allclose(step(0.5, 0.5, 0.0), [300.0, 300.0])  # θ = θ̄ = 0, s = s̄ = 2
    r1 = 1.0 - math.exp(-0.5)  # Box-Muller radius sqrt(−2 ln(1 − u1)) = 1
    # move 0.1·2 along θ = 0; then z = (1, 0): s = 1 + 1 + 0.5 = 2.5, θ = 0
    assert_allclose(step(r1, 0.0, 0.9), [300.2, 300.0], atol=1e-9)
    assert mob.state["speed"][0, 0] == pytest.approx(2.5)
    # move 0.25; then z = (cos π/2, sin π/2) = (0, 1): s = 1.25 + 1 = 2.25,
    # θ = sqrt(0.75)·π/4
    assert_allclose(step(r1, 0.25, 0.9), [300.45, 300.0], atol=1e-9)
    theta = math.sqrt(0.75) * math.pi / 4
    assert mob.state["speed"][0, 0] == pytest.approx(2.25)
    assert mob.state["dir"][0, 0] == pytest.approx(theta)
    want = [300.45 + 0.225 * math.cos(theta), 0.225 * math.sin(theta) + 300.0]
    assert_allclose(step(r1, 0.0, 0.9), want, atol=1e-9)


def test_gauss_markov_reflects_at_a_wall():
    mob = _mobility("gauss_markov", ud_speed_mps=[2.0, 2.0], mobility_memory=1.0)
    mob.positions(np.array([[[599.9 / 600, 0.5, 0.0]]]))  # heading +x at 2 m/s
    assert_allclose(mob.positions(np.array([[[0.3, 0.3, 0.3]]]))[0, 0], [599.9, 300.0])
    assert mob.state["dir"][0, 0] == pytest.approx(math.pi)  # x → 600.1, mirrored, θ → π
    assert_allclose(mob.positions(np.array([[[0.3, 0.3, 0.3]]]))[0, 0], [599.7, 300.0])


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["random_waypoint", "gauss_markov"]),
    seed=st.integers(0, 2**16),
    w=st.floats(20.0, 2000.0),
    h=st.floats(20.0, 2000.0),
    speed=st.tuples(st.floats(0.1, 40.0), st.floats(0.0, 40.0)),
    alpha=st.floats(0.0, 1.0),
)
def test_positions_stay_in_the_area(name, seed, w, h, speed, alpha):
    lo, extra = speed
    keys = dict(area_m=[w, h], es_positions=None, ud_speed_mps=[lo, lo + extra])
    cfg = make_config(PRESET, n_uds=8, mobility=name, mobility_memory=alpha, **keys)
    mob = comp.MOBILITY[name](cfg)
    mob.reset(np.arange(3))
    rng = np.random.default_rng(seed)
    for _ in range(60):
        pos = mob.positions(rng.random((3, 8, 3)))
        assert np.all(pos >= 0.0) and np.all(pos[..., 0] <= w) and np.all(pos[..., 1] <= h)


def test_grid_sites():
    assert_allclose(
        geo.grid_sites(4, (400.0, 200.0)), [[100, 50], [300, 50], [100, 150], [300, 150]]
    )
    assert_allclose(geo.grid_sites(3, (600.0, 600.0)), [[100, 300], [300, 300], [500, 300]])
    cfg = make_config(PRESET, es_positions=None, n_servers=2, z_max=16)
    assert_allclose(comp.server_sites(cfg), [[150, 300], [450, 300]])


# ------------------------------------------------------------------ the preset in the env
def test_preset_has_positions_and_time_correlated_gains():
    env = mec_env.parallel_env(PRESET, kernels="numpy")
    env.reset(seed=3)
    mob = env._core.scenario.mobility
    before = mob.state["pos"][0].copy()
    g0 = env._core.gain_db[0].copy()
    env.step(
        {a: np.full(3, 0.2) if a.startswith("ud") else np.ones(16, np.int8) for a in env.agents}
    )
    moved = np.hypot(*(mob.state["pos"][0] - before).T)
    assert moved.max() <= 10.0 * 0.1 + 1e-9  # at most v_max·Δ
    assert g0.shape == (48, 3) and not np.array_equal(g0, env._core.gain_db[0])


def test_preset_vector_equals_single():
    play_both(PRESET, num_envs=2, episodes=1)
    play_both(PRESET, num_envs=2, episodes=1, mobility="gauss_markov", es_agents=False)


def _rewards(kernels, steps=25, **overrides):
    env = mec_env.parallel_env(PRESET, kernels=kernels, **overrides)
    env.reset(seed=11)
    rng = np.random.default_rng(4)
    out = []
    for _ in range(steps):
        act = {
            a: rng.random(3) if a.startswith("ud") else rng.integers(0, 2, 16) for a in env.agents
        }
        _, r, _, _, info = env.step(act)
        out.append([r[a] for a in env.ud_agents] + [info[a]["delay_s"] for a in env.ud_agents])
    return np.array(out)


@pytest.mark.skipif(not fast.available(), reason="numba not installed")
def test_preset_numpy_equals_compiled():
    # the map is not an affine draw: the compiled backend plays it in its separate kernels
    assert comp.Scenario(make_config(PRESET)).affine is None
    assert_array_equal(_rewards("numba"), _rewards("numpy"))


def test_staggered_auto_reset_and_partial_reset_follow_each_copy():
    # copy 0 restarts 3 slots after copy 1 (reset_mask), so later one copy auto-resets while
    # the other plays: the draw after the reset's is for the complement of the reset rows
    vec = mec_env.vector_env(2, PRESET, kernels="numpy", es_agents=False, n_slots=6)
    singles = [mec_env.parallel_env(PRESET, kernels="numpy", es_agents=False, n_slots=6)
               for _ in range(2)]  # fmt: skip
    vec.reset(seed=[5, 6])
    for env, s in zip(singles, [5, 6]):
        env.reset(seed=s)
    rng = np.random.default_rng(0)
    for t in range(20):
        if t == 3:
            vec.reset(seed=[9], options={"reset_mask": [True, False]})
            singles[0].reset(seed=9)
        ud = rng.random((2, 48, 3))
        restart = vec._needs_reset.copy()
        _, rew, _, _, _ = vec.step({"ud": ud})
        for b, env in enumerate(singles):
            if restart[b]:
                env.reset()
            else:
                _, r, _, _, _ = env.step({a: ud[b, k] for k, a in enumerate(env.ud_agents)})
                assert_array_equal([r[a] for a in env.ud_agents], rew["ud"][b])
            assert_array_equal(env._core.gain_db[0], vec.core.gain_db[b])


def test_an_ambiguous_subset_of_copies_is_an_error_not_a_guess():
    scen = comp.Scenario(make_config(PRESET))
    scen.reset(np.arange(4))
    u = np.random.default_rng(0).random((4, 48, scen.uniforms_per_ud))
    scen.draw(u)
    with pytest.raises(RuntimeError, match="pass rows"):
        scen.draw(u[:2])
    scen.draw(u[:2], rows=np.array([1, 3]))  # told: fine
    assert_array_equal(scen.mobility.rows, [1, 3])


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("area_m", [0, 100], "area_m"),
        ("ud_speed_mps", [-1, 2], "ud_speed_mps"),
        ("mobility_memory", 1.5, r"\[0, 1\]"),
        ("carrier_ghz", 200, "38.901"),
        ("es_positions", [[0, 0], [1, 1]], "n_servers=3"),
        ("es_positions", [[0, 0], [1, 1], [700, 1]], "inside area_m"),
        ("ud_pause_s", -1, "ud_pause_s"),
        ("mobility", "static", "channel_model 'umi'"),
    ],
)
def test_bad_map_keys_are_one_line_config_errors(key, value, message):
    with pytest.raises(ConfigError, match=message) as err:
        make_config(PRESET, **{key: value})
    assert "\n" not in str(err.value)


# ------------------------------------------------------------------ the map drawn
def test_render_draws_the_map_and_saves_an_episode(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from mec_env import render

    env = mec_env.parallel_env(PRESET, render_mode="rgb_array", n_slots=3)
    env.reset(seed=0)
    pos, sites, area = render.map_of(env)
    assert pos.shape == (48, 2) and sites.shape == (3, 2) and tuple(area) == (600.0, 600.0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.std() > 0
    assert render.map_of(mec_env.parallel_env("small")) is None  # no positions: no map
    pytest.importorskip("PIL")
    (gif,) = render.save_episode(env, str(tmp_path / "ep.gif"), seed=1)
    assert (tmp_path / "ep.gif").stat().st_size > 0 and gif.endswith(".gif")
    monkeypatch.setattr(render, "_has_pillow", lambda: False)  # pillow missing: PNGs
    pngs = render.save_episode(env, str(tmp_path / "frames.gif"), seed=1, n_steps=2)
    assert [p[-14:] for p in pngs] == [f"frames_{k:03d}.png" for k in range(3)]


def test_step_copies_on_a_subset_follows_each_copy():
    """The core tells the scenario which copies it draws for, so stepping a subset of the
    copies (step_copies) moves only those copies' UDs, each as its single env would."""
    vec = mec_env.vector_env(3, PRESET, kernels="numpy", es_agents=False, n_slots=8)
    singles = [mec_env.parallel_env(PRESET, kernels="numpy", es_agents=False, n_slots=8)
               for _ in range(3)]  # fmt: skip
    vec.reset(seed=[1, 2, 3])
    for env, s in zip(singles, [1, 2, 3]):
        env.reset(seed=s)
    rng = np.random.default_rng(1)
    for copies in ([0, 2], [1], [0, 1, 2], [2], [0, 1]):
        ud = rng.random((len(copies), 48, 3))
        _, rew, _, _, _ = vec.step_copies({"ud": ud}, copies)
        for i, b in enumerate(copies):
            env = singles[b]
            _, r, _, _, _ = env.step({a: ud[i, k] for k, a in enumerate(env.ud_agents)})
            assert_array_equal([r[a] for a in env.ud_agents], rew["ud"][i])
        for b, env in enumerate(singles):
            assert_array_equal(env._core.gain_db[0], vec.core.gain_db[b])
