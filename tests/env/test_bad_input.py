"""Bad input (environment.md): invalid configs raise ConfigError naming the key; bad actions raise
ActionError naming the agent; ``clip_actions=True`` clips instead."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from numpy.testing import assert_allclose, assert_array_equal

import mec_env
from mec_env.config import make_config

# (overrides, the key the message must name)
BAD_CONFIGS = [
    ({"n_uds": 0}, "n_uds"),  # N < 1
    ({"n_uds": -3}, "n_uds"),
    ({"n_uds": 2.5}, "n_uds"),  # not an integer
    ({"n_uds": 4.0}, "n_uds"),  # a float, even a whole one
    ({"n_uds": True}, "n_uds"),  # bool where int
    ({"n_uds": "48"}, "n_uds"),  # wrong type
    ({"n_servers": 0}, "n_servers"),
    ({"n_slots": 0}, "n_slots"),
    ({"task_bytes": [-1, 10]}, "task_bytes"),  # negative size
    ({"task_bytes": [10, 5]}, "task_bytes"),  # low > high
    ({"task_bytes": 5}, "task_bytes"),  # not a pair
    ({"task_bytes": [1, 2, 3]}, "task_bytes"),
    ({"task_bytes": [1, float("inf")]}, "task_bytes"),
    ({"task_bytes": "1-50"}, "task_bytes"),
    ({"cycles_per_bit": ["a", 3]}, "cycles_per_bit"),
    ({"cycles_per_bit": [True, 3]}, "cycles_per_bit"),
    ({"deadline_s": [0, 1]}, "deadline_s"),  # a deadline must be > 0
    ({"f_local_hz": [2e9, 1e9]}, "f_local_hz"),  # f_min > f_max
    ({"f_local_hz": [-1e9, 1e9]}, "f_local_hz"),
    ({"p_tx_dbm": [30, 1]}, "p_tx_dbm"),  # p_min > p_max
    ({"p_tx_dbm": [float("nan"), 1]}, "p_tx_dbm"),
    ({"battery_j": [1.0, 1.0]}, "battery_j"),  # b_min must be < b_max
    ({"battery_j": [-1.0, 1.0]}, "battery_j"),
    ({"gain_db": [14, 5]}, "gain_db"),
    # a raw path loss, not the normalised h/σ² of eq. (5): log2(1 + p g) rounds to 0
    ({"gain_db": [-200, -190]}, "gain_db"),
    ({"p_tx_dbm": [-400, -300]}, "p_tx_dbm"),
    ({"harvest_mean_j": -1e-3}, "harvest_mean_j"),
    ({"harvest_mean_j": 1e308}, "harvest_mean_j"),  # U[0, 2d] would overflow
    ({"kappa": 0}, "kappa"),
    ({"kappa": "5e-27"}, "kappa"),
    ({"kappa": True}, "kappa"),
    ({"bandwidth_hz": float("nan")}, "bandwidth_hz"),
    ({"bandwidth_hz": -40e6}, "bandwidth_hz"),
    ({"rho_delay": -0.5}, "rho_delay"),
    ({"rho_energy": float("inf")}, "rho_energy"),
    ({"rho_delay": 0.0, "rho_energy": 0.0}, "rho_delay"),  # no objective at all
    ({"z_max": [16, 16]}, "z_max"),  # list length ≠ M = 3
    ({"z_max": []}, "z_max"),
    ({"z_max": 0}, "z_max"),
    ({"z_max": True}, "z_max"),  # bool where int
    ({"z_max": 16.0}, "z_max"),
    ({"z_max": [[1, 2], [3, 4], [5, 6]]}, "z_max"),
    ({"subchannels": 2.5}, "subchannels"),
    ({"subchannels": [10, 10, -1]}, "subchannels"),
    ({"n_cpus": [8, 8, "8"]}, "n_cpus"),
    ({"n_cpus": [8, 8, 8, 8]}, "n_cpus"),
    ({"storage_bytes": -1}, "storage_bytes"),
    ({"storage_bytes": "400"}, "storage_bytes"),
    ({"f_server_hz": [4e9, 0, 4e9]}, "f_server_hz"),
    ({"f_server_hz": [4e9, float("inf"), 4e9]}, "f_server_hz"),
    ({"matcher": "nope"}, "matcher"),  # unknown matcher
    ({"matcher": None}, "matcher"),
    ({"matcher": ["co_selection"]}, "matcher"),  # unhashable
    ({"admission": "nope"}, "admission"),  # unknown admission rule
    ({"admission": {"rule": "accept_all"}}, "admission"),
    ({"render_mode": "video"}, "render_mode"),
    ({"render_mode": ["ansi"]}, "render_mode"),
    ({"es_agents": "yes"}, "es_agents"),
    ({"normalize_obs": 1}, "normalize_obs"),
    ({"clip_actions": None}, "clip_actions"),
    ({"es_action_space": "Box"}, "es_action_space"),
    ({"es_action_space": None}, "es_action_space"),
    ({"es_action_space": ["box"]}, "es_action_space"),  # unhashable
    ({"n_users": 48}, "n_users"),  # unknown key
    ({"task_size_mb": [1, 50]}, "task_size_mb"),
]


@pytest.mark.parametrize(
    ("overrides", "key"), BAD_CONFIGS, ids=[f"{k}-{i}" for i, (_, k) in enumerate(BAD_CONFIGS)]
)
def test_bad_config_names_the_key(overrides, key):
    with pytest.raises(mec_env.ConfigError) as err:
        mec_env.parallel_env("paper_kb", **overrides)
    assert isinstance(err.value, ValueError)
    assert key in str(err.value)
    # a config can be checked without building an env, with the same error
    with pytest.raises(ValueError, match=key):
        make_config("paper_kb", **overrides)


def test_bad_config_messages_say_what_is_allowed():
    with pytest.raises(
        ValueError,
        match=r"'f_local_hz' got \[2000000000.0, 1000000000.0\]; "
        r"allowed: low <= high",
    ):
        make_config("paper", f_local_hz=[2e9, 1e9])
    with pytest.raises(ValueError, match="an integer >= 1"):
        make_config("paper", n_uds=0)
    with pytest.raises(ValueError, match="length n_servers=3"):
        make_config("paper", z_max=[16, 16])
    with pytest.raises(ValueError, match="co_selection"):  # the allowed matchers are listed
        make_config("paper", matcher="nope")
    with pytest.raises(ValueError, match="known keys"):
        make_config("paper", n_users=48)
    with pytest.raises(
        ValueError,
        match=r"^config key 'es_action_space' got 'discrete'; "
        r"allowed: one of \['multibinary', 'box'\]$",
    ):
        make_config("paper", es_action_space="discrete")


@pytest.mark.parametrize("name", ["paper_mb", "", "PAPER", None, 3])
def test_unknown_preset(name):
    with pytest.raises(mec_env.ConfigError, match="preset") as err:
        mec_env.parallel_env(name)
    assert "paper_kb" in str(err.value)  # the choices are listed


def test_good_edge_configs_accepted():
    # per-server lists of numpy integers, a single-value list, zero harvest, one UD
    cfg = make_config(
        "paper",
        z_max=[np.int64(16), 16, 16],
        subchannels=[10],
        n_uds=1,
        harvest_mean_j=0.0,
        gain_db=[5, 5],
        es_agents=np.bool_(False),
    )
    assert_array_equal(cfg.subchannels, [10, 10, 10])
    assert cfg.n_uds == 1 and cfg.harvest_mean_j == 0.0 and cfg.es_agents is False


@pytest.mark.parametrize("es_agents", [True, False])
def test_weakest_allowed_channel_with_a_zero_weight_stays_finite(es_agents):
    # just above the rate underflow (p_min = 1 dBm, g = -129 dB) uploads take ~1e14 s; with
    # ρ1 = 0 a zero times an infinite delay would be NaN, so everything must stay finite
    env = mec_env.parallel_env(
        "small", gain_db=[-129, -128], rho_delay=0.0, es_agents=es_agents, n_slots=3
    )
    env.reset(seed=0)
    while env.agents:
        actions = {a: np.array([1.0, 0.5, 0.0], np.float32) for a in env.ud_agents}
        actions.update({a: np.ones(4, np.int8) for a in env.es_agent_names})
        _, rewards, *_ = env.step(actions)
        for key, value in env.last_step.items():
            assert np.all(np.isfinite(np.asarray(value, dtype=np.float64))), key
        assert np.all(np.isfinite(list(rewards.values())))


def test_preset_not_mutated_by_overrides():
    lst = [1, 2, 3]
    make_config("paper", n_servers=3, z_max=lst)
    lst.append(4)
    assert make_config("paper").raw["z_max"] == 16


# ------------------------------------------------------------------ bad actions


GOOD_UD = np.array([0.7, 0.5, 0.5], np.float32)


@pytest.fixture
def env():
    e = mec_env.parallel_env("small")
    e.reset(seed=0)
    return e


def good_actions(env) -> dict:
    actions = {a: GOOD_UD.copy() for a in env.ud_agents}
    actions.update({a: np.ones(4, np.int8) for a in env.es_agent_names})
    return actions


def with_change(env, agent, value):
    actions = good_actions(env)
    actions[agent] = value
    return actions


BAD_ACTIONS = {
    "wrong_shape_short": ("ud_2", np.array([0.5, 0.5], np.float32), "shape"),
    "wrong_shape_long": ("ud_2", np.zeros(4, np.float32), "shape"),
    "wrong_shape_2d": ("ud_2", np.zeros((3, 1), np.float32), "shape"),
    "scalar": ("ud_2", 0.5, "shape"),
    "nan": ("ud_3", np.array([0.5, np.nan, 0.5], np.float32), "finite"),
    "inf": ("ud_3", np.array([0.5, 0.5, np.inf], np.float32), "finite"),
    "neg_inf": ("ud_3", np.array([-np.inf, 0.5, 0.5], np.float32), "finite"),
    "above_one": ("ud_4", np.array([0.5, 1.5, 0.5], np.float32), r"\[0, 1\]"),
    "below_zero": ("ud_4", np.array([0.5, 0.5, -0.01], np.float32), r"\[0, 1\]"),
    "non_numeric": ("ud_5", np.array(["a", "b", "c"]), "numeric"),
    "non_numeric_object": ("ud_5", {"x": 1}, "numeric"),
    "none": ("ud_1", None, "shape"),
    "es_non_binary": ("es_1", np.array([1, 0.5, 0, 1]), "0/1"),
    "es_two": ("es_1", np.array([1, 2, 0, 1]), "0/1"),
    "es_nan": ("es_0", np.array([1, np.nan, 0, 1]), "0/1"),
    "es_wrong_length": ("es_0", np.ones(3, np.int8), "MultiBinary"),
    "es_non_numeric": ("es_0", ["a"] * 4, "numeric"),
    # numeric strings and complex numbers are not actions (were: parsed, or the imaginary
    # part dropped with a ComplexWarning)
    "numeric_strings": ("ud_5", np.array(["0.5", "0.5", "0.5"]), "not numeric.*dtype <U3"),
    "complex": ("ud_5", np.array([0.5, 0.5, 0.5], complex), "not numeric.*complex128"),
    "es_numeric_strings": ("es_0", np.array(["1", "0", "1", "1"]), "not numeric.*dtype <U1"),
    "es_complex": ("es_1", np.ones(4, complex), "not numeric.*complex128"),
}


@pytest.mark.parametrize("case", list(BAD_ACTIONS))
def test_bad_action_names_the_agent(env, case):
    agent, value, message = BAD_ACTIONS[case]
    with pytest.raises(mec_env.ActionError, match=message) as err:
        env.step(with_change(env, agent, value))
    assert isinstance(err.value, ValueError)
    assert agent in str(err.value)
    # nothing was played: the env is still at slot 0 and accepts a good action
    assert env.t == 0
    env.step(good_actions(env))
    assert env.t == 1


def test_missing_agent(env):
    actions = good_actions(env)
    del actions["ud_3"]
    with pytest.raises(mec_env.ActionError, match="missing") as err:
        env.step(actions)
    assert "ud_3" in str(err.value)


def test_missing_es_agent(env):
    actions = good_actions(env)
    del actions["es_1"]
    with pytest.raises(mec_env.ActionError, match="es_1"):
        env.step(actions)


def test_extra_agent(env):
    actions = good_actions(env)
    actions["ud_99"] = GOOD_UD
    with pytest.raises(mec_env.ActionError, match="unexpected") as err:
        env.step(actions)
    assert "ud_99" in str(err.value)


def test_es_action_when_es_agents_are_off():
    env = mec_env.parallel_env("small", es_agents=False)
    env.reset(seed=0)
    actions = {a: GOOD_UD for a in env.agents}
    actions["es_0"] = np.ones(4, np.int8)
    with pytest.raises(mec_env.ActionError, match="es_0"):
        env.step(actions)


@pytest.mark.parametrize("not_a_dict", [[GOOD_UD] * 8, None, np.zeros((8, 3)), "ud_0"])
def test_actions_not_a_dict(env, not_a_dict):
    with pytest.raises(mec_env.ActionError, match="dict"):
        env.step(not_a_dict)


def test_step_after_episode_end():
    env = mec_env.parallel_env("small", n_slots=2)
    env.reset(seed=0)
    env.step(good_actions(env))
    env.step(good_actions(env))
    with pytest.raises(mec_env.ActionError, match="reset"):
        env.step(good_actions(env))


def test_step_before_reset():
    env = mec_env.parallel_env("small")
    with pytest.raises(mec_env.ActionError, match=r"before reset\(\)"):
        env.step({})


def test_state_before_reset_says_so():
    """(was: ``AttributeError: 'MECParallelEnv' object has no attribute '_ud_obs'``)"""
    from gymnasium.error import ResetNeeded

    with pytest.raises(ResetNeeded, match=r"state\(\) called before reset\(\)"):
        mec_env.parallel_env("small").state()


@pytest.mark.parametrize("es_action_space", ["multibinary", "box"])
def test_es_strings_and_complex_rejected_with_every_es_space(es_action_space):
    env = mec_env.parallel_env("small", es_action_space=es_action_space)
    env.reset(seed=0)
    for bad in (np.array(["1"] * 4), np.ones(4, complex)):
        with pytest.raises(mec_env.ActionError, match="es_0 is not numeric"):
            env.step(with_change(env, "es_0", bad))


# ------------------------------------------------------------------ clip_actions=True


def test_clip_actions_clips_instead():
    env = mec_env.parallel_env("small", clip_actions=True, subchannels=4)
    env.reset(seed=0)
    cfg = env.config
    server = env.server.copy()
    members = env.members.copy()
    actions = good_actions(env)
    actions["ud_0"] = np.array([np.nan, 5.0, -1.0], np.float32)  # x → 0, f → f_max, p → p_min
    actions["ud_1"] = np.array([2.0, np.inf, -np.inf], np.float32)  # x → 1, f → f_max, p_min
    actions["ud_2"] = np.array([-3.0, -np.inf, np.nan], np.float32)  # x 0, f_min, p_min
    actions["ud_3"] = np.array([0.49, 0.0, 7.0], np.float32)  # x 0, f_min, p → p_max
    actions["es_0"] = np.array([0.7, np.nan, 0.2, 3.0])  # thresholded at 0.5: 1, 0, 0, 1
    actions["es_1"] = np.array([1.0, 1.0, 1.0, 1.0])
    env.step(actions)
    s = env.last_step
    assert_allclose(s["f_hz"][:4], [1.5e9, 1.5e9, 0.4e9, 0.4e9])
    assert_allclose(s["p_w"][:4], [cfg.p_min_w, cfg.p_min_w, cfg.p_min_w, cfg.p_max_w])
    assert_array_equal(s["requested"][:4], [False, True, False, False])
    es0_bits = np.array([True, False, False, True])
    approve = np.zeros(6, dtype=bool)
    row = members[0][:4]
    approve[row[row >= 0]] = es0_bits[row >= 0]
    approve[server == 1] = True
    assert_array_equal(s["approved"], s["requested"] & approve)
    assert np.all(np.isfinite(s["cost"]))


def test_clip_actions_keeps_shape_and_key_errors():
    env = mec_env.parallel_env("small", clip_actions=True)
    env.reset(seed=0)
    with pytest.raises(mec_env.ActionError, match="ud_2"):
        env.step(with_change(env, "ud_2", np.zeros(2, np.float32)))
    with pytest.raises(mec_env.ActionError, match="es_0"):
        env.step(with_change(env, "es_0", np.ones(5)))
    actions = good_actions(env)
    del actions["ud_0"]
    with pytest.raises(mec_env.ActionError, match="ud_0"):
        env.step(actions)
    with pytest.raises(mec_env.ActionError, match="numeric"):
        env.step(with_change(env, "ud_1", np.array(["a", "b", "c"])))


# ------------------------------------------------------------------ es_action_space="box"


def test_box_es_actions_play_exactly_like_the_thresholded_bits():
    """Box ES actions read as approve iff >= 0.5: the same episode as the MultiBinary bits."""
    box = mec_env.parallel_env("small", es_action_space="box", subchannels=[1, 2])
    bits = mec_env.parallel_env("small", subchannels=[1, 2])
    for a in box.es_agent_names:
        assert box.action_space(a) == spaces.Box(0.0, 1.0, (4,), np.float32)
        assert isinstance(bits.action_space(a), spaces.MultiBinary)
    assert box.action_space("ud_0") == bits.action_space("ud_0")
    box.reset(seed=5)
    bits.reset(seed=5)
    rng = np.random.default_rng(5)
    while box.agents:
        ud = {a: rng.random(3).astype(np.float32) for a in box.ud_agents}
        es = {a: rng.random(4).astype(np.float32) for a in box.es_agent_names}
        es["es_0"][:2] = [0.5, np.nextafter(np.float32(0.5), np.float32(0))]  # the threshold
        out_box = box.step({**ud, **es})
        out_bits = bits.step({**ud, **{a: (v >= 0.5).astype(np.int8) for a, v in es.items()}})
        for x, y in zip(out_box[:4], out_bits[:4], strict=True):
            assert x.keys() == y.keys()
            for k in x:
                assert_array_equal(x[k], y[k])
        assert_array_equal(box.last_step["approved"], bits.last_step["approved"])
    assert box.last_step["approved"].any()


def test_box_es_actions_are_checked():
    env = mec_env.parallel_env("small", es_action_space="box")
    env.reset(seed=0)
    for bad in ([0.2, 1.5, 0.0, 0.0], [0.2, np.nan, 0.0, 0.0], [-0.1, 0.0, 0.0, 0.0]):
        with pytest.raises(
            mec_env.ActionError,
            match=r"action of es_1 must be finite and in "
            r"\[0, 1\].*clip_actions=True",
        ):
            env.step(with_change(env, "es_1", np.array(bad, np.float32)))
    with pytest.raises(mec_env.ActionError, match=r"es_0 must be Box\(0, 1, \(4,\)\)"):
        env.step(with_change(env, "es_0", np.ones(3, np.float32)))
    env.step(with_change(env, "es_1", np.array([0.0, 0.3, 0.6, 1.0], np.float32)))  # valid


def test_box_es_actions_with_clip_actions():
    env = mec_env.parallel_env("small", es_action_space="box", clip_actions=True, subchannels=4)
    env.reset(seed=0)
    server, members = env.server.copy(), env.members.copy()
    actions = good_actions(env)
    actions["es_0"] = np.array([2.0, np.nan, -np.inf, np.inf], np.float32)  # 1, 0, 0, 1
    env.step(actions)
    approve = np.zeros(6, dtype=bool)
    row = members[0][:4]
    approve[row[row >= 0]] = np.array([True, False, False, True])[row >= 0]
    approve[server == 1] = True
    assert_array_equal(env.last_step["approved"], env.last_step["requested"] & approve)
