"""PettingZoo API conformance, seeding, spaces, observation layout, info keys, truncation."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces
from numpy.testing import assert_allclose, assert_array_equal
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test

import mec_env
from mec_env.config import PRESETS
from tests.env.helpers import HETEROGENEOUS

PAPER_PRESETS = ("paper", "paper_kb", "paper_energy", "small")
#: the time-coupled presets (queues, carried backlogs; docs/environment.md)
QUEUE_PRESETS = ("queue", "queue_heavy", "queue_small", "queue_energy")
#: the map (test_map.py), DNN split tasks (test_dnn_env.py), the three together
#: (test_urban_split_queue.py) and the large map with reach (test_reach.py)
OTHER_PRESETS = ("urban_mobility", "dnn_split", "dnn_split_small", "urban_split_queue", "city")
PRESET_NAMES = PAPER_PRESETS + QUEUE_PRESETS + OTHER_PRESETS
#: the large presets play here at a fiftieth of their size (the same map density and reach;
#: tests/env/test_reach.py steps the full city)
SIZE = {"city": {"n_uds": 96, "n_servers": 6, "area_m": [600.0, 400.0]}}
VARIANTS = {
    "es_on": {},
    "es_off": {"es_agents": False},
    "raw_obs": {"normalize_obs": False},
    "es_box": {"es_action_space": "box"},
}

SPEC_SLOT_INFO = [
    "slot_mean_cost",
    "slot_timeout_rate",
    "slot_offload_rate",
    "slot_participation_rate",
    "slot_below_battery_rate",
    "slot_admission_cuts",
]
SPEC_UD_INFO = [
    "task_bytes",
    "cycles_per_bit",
    "deadline_s",
    "server",
    "requested",
    "offloaded",
    "f_hz",
    "p_w",
    "delay_s",
    "energy_j",
    "cost",
    "penalty",
    "timed_out",
    "battery_j",
    "below_b_min",
    "gain",
    *SPEC_SLOT_INFO,
]
SPEC_ES_INFO = ["requests", "admitted", "cuts", "members", *SPEC_SLOT_INFO]


@pytest.fixture(autouse=True)
def _quiet_pettingzoo_warnings():
    # api_test warns that MultiBinary is not Box/Discrete and that agents' spaces differ:
    # both are by design here (UDs and ESs are different kinds of agent).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def test_presets_are_those_of_the_spec():
    # the paper's, the time-coupled ones and the others: every PettingZoo test below runs
    # on each
    assert set(PRESETS) == set(PRESET_NAMES)


# ------------------------------------------------------------------ PettingZoo's own tests


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_parallel_api(preset, variant):
    parallel_api_test(
        mec_env.parallel_env(preset, **SIZE.get(preset, {}), **VARIANTS[variant]), num_cycles=25
    )


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_parallel_seed(preset, variant):
    parallel_seed_test(
        lambda: mec_env.parallel_env(preset, **SIZE.get(preset, {}), **VARIANTS[variant]),
        num_cycles=25,
    )


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_aec_api(preset, variant):
    api_test(mec_env.env(preset, **SIZE.get(preset, {}), **VARIANTS[variant]), num_cycles=25)


@pytest.mark.parametrize("es_agents", [True, False])
def test_api_heterogeneous_servers(es_agents):
    cfg = dict(HETEROGENEOUS, es_agents=es_agents)
    parallel_api_test(mec_env.parallel_env("small", **cfg), num_cycles=25)
    parallel_seed_test(lambda: mec_env.parallel_env("small", **cfg), num_cycles=25)
    api_test(mec_env.env("small", **cfg), num_cycles=25)


# ------------------------------------------------------------------ seeding


def trajectory(seed: int, preset: str = "small", **overrides) -> list:
    env = mec_env.parallel_env(preset, **SIZE.get(preset, {}), **overrides)
    obs, _ = env.reset(seed=seed)
    for a in env.possible_agents:
        env.action_space(a).seed(seed)
    out = [obs]
    while env.agents:
        actions = {a: env.action_space(a).sample() for a in env.agents}
        obs, rewards, _, _, infos = env.step(actions)
        out.append(
            (
                obs,
                rewards,
                env.last_step["server"].copy(),
                env.last_step["harvest_j"].copy(),
                mec_env.slot_metrics(infos["ud_0"]),
            )
        )
    return out


def assert_same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    else:
        assert_array_equal(a, b)


@pytest.mark.parametrize("preset", ["small", "paper_kb"])
@pytest.mark.parametrize("matcher", ["co_selection", "random", "max_gain"])
def test_same_seed_same_trajectory(preset, matcher):
    assert_same(trajectory(7, preset, matcher=matcher), trajectory(7, preset, matcher=matcher))


def test_different_seed_different_trajectory():
    first, second = trajectory(1), trajectory(2)
    assert not np.array_equal(first[0]["ud_0"], second[0]["ud_0"])


def test_reset_without_seed_continues_the_generator():
    env = mec_env.parallel_env("small")
    first, _ = env.reset(seed=5)
    second, _ = env.reset()
    assert not np.array_equal(first["ud_0"], second["ud_0"])
    again, _ = env.reset(seed=5)
    assert_array_equal(first["ud_0"], again["ud_0"])


# ------------------------------------------------------------------ spaces


@pytest.mark.parametrize("es_agents", [True, False])
def test_spaces_cached_and_shaped(es_agents):
    env = mec_env.parallel_env("paper_kb", es_agents=es_agents)
    n, m = 48, 3
    for a in env.possible_agents:
        assert env.action_space(a) is env.action_space(a)
        assert env.observation_space(a) is env.observation_space(a)
    ud_act = env.action_space("ud_0")
    assert isinstance(ud_act, spaces.Box) and ud_act.shape == (3,)
    assert np.all(ud_act.low == 0) and np.all(ud_act.high == 1)
    assert env.observation_space("ud_0").shape == (2 * m + 7,)  # 13
    assert env.state_space.shape == (n * (2 * m + 7) + 3 * m,)  # 48 · 13 + 9 = 633
    if es_agents:
        assert env.possible_agents == [f"ud_{i}" for i in range(n)] + ["es_0", "es_1", "es_2"]
        assert env.action_space("es_0") == spaces.MultiBinary(16)
        assert env.observation_space("es_0").shape == (6 * 16 + 3,)  # 99
    else:
        assert env.possible_agents == [f"ud_{i}" for i in range(n)]


def test_heterogeneous_es_spaces():
    env = mec_env.parallel_env("small", **HETEROGENEOUS)
    for m, z in enumerate([2, 4, 3]):
        assert env.action_space(f"es_{m}") == spaces.MultiBinary(z)
        assert env.observation_space(f"es_{m}").shape == (6 * z + 3,)
    obs, infos = env.reset(seed=0)
    for m, z in enumerate([2, 4, 3]):
        assert obs[f"es_{m}"].shape == (6 * z + 3,)
        assert infos[f"es_{m}"]["members"].shape == (z,)


@pytest.mark.parametrize("normalize_obs", [True, False])
@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_observations_and_state_inside_spaces(preset, normalize_obs):
    env = mec_env.parallel_env(
        preset, **SIZE.get(preset, {}), normalize_obs=normalize_obs, n_slots=6
    )
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    while True:
        for a, o in obs.items():
            assert o.dtype == np.float32
            assert env.observation_space(a).contains(o), a
        state = env.state()
        assert state.dtype == np.float32
        assert env.state_space.contains(state)
        if not env.agents:
            break
        # extreme actions reach the top of every range (f = f_max, p = p_max)
        actions = {
            a: (np.ones(3, np.float32) if rng.random() < 0.5 else rng.random(3).astype(np.float32))
            for a in env.ud_agents
        }
        actions.update({a: env.action_space(a).sample() for a in env.es_agent_names})
        obs, *_ = env.step(actions)


# ------------------------------------------------------------------ observation layout


def test_ud_observation_layout_raw():
    env = mec_env.parallel_env("small", normalize_obs=False)
    obs, _ = env.reset(seed=3)
    m = 2
    s = env.current_slot
    for i in range(6):
        o = obs[f"ud_{i}"]
        assert_allclose(o[:3], [s.bits[i], s.cycles_per_bit[i], s.deadline_s[i]], rtol=1e-6)
        assert_array_equal(o[3:5], [0.0, 0.0])  # previous f and p are 0 at reset
        assert_allclose(o[5], 3.2e6, rtol=1e-6)  # battery full, b_max = 3.2 MJ
        assert_allclose(o[6 : 6 + m], s.gain[i], rtol=1e-6)
        onehot = np.zeros(m + 1)
        onehot[env.server[i] if env.server[i] >= 0 else m] = 1.0
        assert_array_equal(o[6 + m :], onehot)
    act = np.array([0.0, 0.8, 0.5], np.float32)
    obs, *_ = env.step(
        {a: (act if a.startswith("ud") else env.action_space(a).sample()) for a in env.agents}
    )
    cfg = env.config
    # previous f = 0.8 · 1.5e9 = 1.2e9 Hz, previous p = max(p_min, 0.5 · p_max) W
    assert_allclose(obs["ud_0"][3], np.float32(0.8) * 1.5e9, rtol=1e-6)
    assert_allclose(obs["ud_0"][4], np.float32(0.5) * cfg.p_max_w, rtol=1e-6)
    assert_allclose(obs["ud_0"][5], env.battery_j[0], rtol=1e-6)


def test_ud_observation_layout_scaled():
    env = mec_env.parallel_env("small")
    raw = mec_env.parallel_env("small", normalize_obs=False)
    obs, _ = env.reset(seed=4)
    raw_obs, _ = raw.reset(seed=4)
    cfg = env.config
    for i in range(6):
        o, r = obs[f"ud_{i}"], raw_obs[f"ud_{i}"]
        scale = [4e5, 700.0, 1.0, 1.5e9, cfg.p_max_w, 3.2e6]  # β_max, c_max, φ_max, ... b_max
        assert_allclose(o[:6], r[:6] / np.array(scale), rtol=1e-6)
        # gains scaled in dB over [5, 14] dB
        g_db = 10 * np.log10(r[6:8].astype(np.float64))
        assert_allclose(o[6:8], (g_db - 5.0) / 9.0, rtol=1e-5, atol=1e-6)
        assert_array_equal(o[8:], r[8:])  # one-hot unchanged


def test_es_observation_layout():
    env = mec_env.parallel_env("small", normalize_obs=False)
    obs, infos = env.reset(seed=5)
    cfg = env.config
    s = env.current_slot
    for m in range(2):
        o = obs[f"es_{m}"]
        members = infos[f"es_{m}"]["members"]
        assert_array_equal(members, env.members[m])
        places = o[:-3].reshape(4, 6)
        for j, ud in enumerate(members):
            if ud < 0:
                assert_array_equal(places[j], np.zeros(6))
            else:
                expected = [
                    1.0,
                    s.bits[ud],
                    s.cycles_per_bit[ud],
                    s.deadline_s[ud],
                    s.gain[ud, m],
                    env.battery_j[ud],
                ]
                assert_allclose(places[j], expected, rtol=1e-6)
        count = int((members >= 0).sum())
        stored = s.bits[members[members >= 0]].sum()
        # load figures: members/K, Σβ/D_m, members/U_m (K = 2, D = 3.2e6 bits, U = 2)
        assert_allclose(o[-3:], [count / 2, stored / 3.2e6, count / 2], rtol=1e-6)
    state = env.state()
    n_obs = 2 * 2 + 7
    assert_array_equal(state[: 6 * n_obs], np.concatenate([obs[f"ud_{i}"] for i in range(6)]))
    assert_array_equal(state[6 * n_obs :], np.concatenate([obs["es_0"][-3:], obs["es_1"][-3:]]))
    assert cfg.n_uds == 6


def test_members_order_and_es_bits():
    # ES bit j approves the j-th member (ascending UD index); approve only the first member
    env = mec_env.parallel_env("small", subchannels=4)
    _, infos = env.reset(seed=6)
    members = {m: infos[f"es_{m}"]["members"] for m in range(2)}
    for m in range(2):
        row = members[m][members[m] >= 0]
        assert np.all(np.diff(row) > 0)
    actions = {a: np.array([1.0, 0.5, 1.0], np.float32) for a in env.ud_agents}
    actions.update({f"es_{m}": np.array([1, 0, 0, 0], np.int8) for m in range(2)})
    env.step(actions)
    first = [members[m][0] for m in range(2) if members[m][0] >= 0]
    assert_array_equal(np.flatnonzero(env.last_step["offloaded"]), sorted(first))


# ------------------------------------------------------------------ infos, truncation


@pytest.mark.parametrize("es_agents", [True, False])
def test_info_keys_exactly_per_spec(es_agents):
    env = mec_env.parallel_env("small", es_agents=es_agents)
    assert list(mec_env.UD_INFO_KEYS) == SPEC_UD_INFO
    assert list(mec_env.ES_INFO_KEYS) == SPEC_ES_INFO
    _, infos = env.reset(seed=0)
    assert set(infos) == set(env.agents)
    for i, a in enumerate(env.ud_agents):
        assert list(infos[a]) == SPEC_UD_INFO  # the same keys, in order, at reset and step
        assert infos[a]["server"] == env.server[i]
        assert_allclose(infos[a]["task_bytes"], env.current_slot.bits[i] / 8)
    for m, a in enumerate(env.es_agent_names):
        assert list(infos[a]) == SPEC_ES_INFO
        assert_array_equal(infos[a]["members"], env.members[m])
    while env.agents:
        _, _, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
        next_members = env.members
        slot_info = mec_env.slot_metrics(infos["ud_0"])
        assert list(slot_info) == list(mec_env.SLOT_METRICS)
        for a in env.possible_agents:  # every agent repeats the slot metrics
            assert mec_env.slot_metrics(infos[a]) == slot_info
        for a in env.ud_agents:
            assert list(infos[a]) == SPEC_UD_INFO
            assert np.asarray(infos[a]["gain"]).shape == (2,)
        for m, a in enumerate(env.es_agent_names):
            assert list(infos[a]) == SPEC_ES_INFO
            assert_array_equal(infos[a]["members"], next_members[m])
        s = env.last_step
        assert_allclose(slot_info["mean_cost"], s["cost"].mean())
        assert_allclose(slot_info["timeout_rate"], s["timed_out"].mean())
        assert_allclose(slot_info["offload_rate"], s["offloaded"].mean())
        assert_allclose(slot_info["below_battery_rate"], s["below_b_min"].mean())
        req = s["requested"].sum()
        assert_allclose(slot_info["participation_rate"], s["offloaded"].sum() / req if req else 0.0)


def _kind(value):
    """Type, and for arrays dtype and shape: what a spec built from one value fixes."""
    if isinstance(value, np.ndarray):
        return (np.ndarray, value.dtype, value.shape)
    return type(value)


@pytest.mark.parametrize(
    "cfg",
    [{}, {"es_agents": False}, HETEROGENEOUS, {"normalize_obs": False}],
    ids=["es_on", "es_off", "hetero", "raw_obs"],
)
def test_info_types_and_shapes_same_at_reset_and_every_step(cfg):
    env = mec_env.parallel_env("small", **cfg)
    _, infos = env.reset(seed=3)
    kinds = {a: {k: _kind(v) for k, v in info.items()} for a, info in infos.items()}
    for a, info in infos.items():
        for k, v in info.items():  # flat: scalars and 1-D arrays, no nested containers
            assert isinstance(v, (bool, int, float, np.ndarray)), (a, k, type(v))
    for m, a in enumerate(env.es_agent_names):
        assert kinds[a]["members"] == (np.ndarray, np.int64, (int(env.config.z_max[m]),))
    for a in env.ud_agents:
        assert kinds[a]["gain"] == (np.ndarray, np.float64, (env.n_servers,))
    rng = np.random.default_rng(0)
    for _ in range(2):
        env.reset(seed=int(rng.integers(100)))
        while env.agents:
            _, _, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
            assert {a: {k: _kind(v) for k, v in i.items()} for a, i in infos.items()} == kinds


def test_reset_infos_hold_the_new_task_and_documented_defaults():
    env = mec_env.parallel_env("small")
    _, infos = env.reset(seed=0)
    s = env.current_slot
    defaults = {
        "requested": False,
        "offloaded": False,
        "f_hz": 0.0,
        "p_w": 0.0,
        "delay_s": 0.0,
        "energy_j": 0.0,
        "cost": 0.0,
        "penalty": 0.0,
        "timed_out": False,
        "battery_j": env.config.b_max_j,
        "below_b_min": False,
        "slot_mean_cost": 0.0,
        "slot_timeout_rate": 0.0,
        "slot_offload_rate": 0.0,
        "slot_participation_rate": 0.0,
        "slot_below_battery_rate": 0.0,
        "slot_admission_cuts": 0,
    }
    for i, a in enumerate(env.ud_agents):
        assert {k: infos[a][k] for k in defaults} == defaults
        assert_allclose(
            [infos[a]["task_bytes"], infos[a]["cycles_per_bit"], infos[a]["deadline_s"]],
            [s.bits[i] / 8, s.cycles_per_bit[i], s.deadline_s[i]],
        )
        assert_allclose(infos[a]["gain"], s.gain[i])
        assert infos[a]["server"] == env.server[i]
    for a in env.es_agent_names:
        assert [infos[a][k] for k in ("requests", "admitted", "cuts")] == [0, 0, 0]
        assert {k: infos[a][k] for k in SPEC_SLOT_INFO} == {k: defaults[k] for k in SPEC_SLOT_INFO}


def test_infos_do_not_alias_env_state():
    env = mec_env.parallel_env("small")
    _, infos = env.reset(seed=0)
    gain, members = env.current_slot.gain.copy(), env.members.copy()
    infos["ud_0"]["gain"][:] = -1.0
    infos["es_0"]["members"][:] = 99
    assert_array_equal(env.current_slot.gain, gain)
    assert_array_equal(env.members, members)


def test_info_values_per_ud():
    env = mec_env.parallel_env("small")
    env.reset(seed=9)
    slot = env.current_slot
    _, _, _, _, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
    s = env.last_step
    for i in range(6):
        info = infos[f"ud_{i}"]
        assert_allclose(info["task_bytes"], slot.bits[i] / 8)
        assert_allclose(info["gain"], slot.gain[i])
        for key in (
            "cycles_per_bit",
            "deadline_s",
            "f_hz",
            "p_w",
            "delay_s",
            "energy_j",
            "cost",
            "penalty",
            "battery_j",
        ):
            assert info[key] == s[key][i], key
        for key in ("requested", "offloaded", "timed_out", "below_b_min"):
            assert info[key] is bool(s[key][i]), key
        assert info["server"] == s["server"][i]


@pytest.mark.parametrize(
    ("preset", "n_slots"), [("small", 10), ("paper_kb", 10), ("small", 1), ("paper_energy", 100)]
)
def test_truncation_after_n_slots(preset, n_slots):
    env = mec_env.parallel_env(preset, **SIZE.get(preset, {}), n_slots=n_slots, es_agents=False)
    env.reset(seed=0)
    act = {a: np.array([0.0, 0.3, 0.0], np.float32) for a in env.agents}
    for t in range(1, n_slots + 1):
        assert env.agents
        _, rewards, terminations, truncations, _ = env.step(act)
        assert set(rewards) == set(act)
        assert not any(terminations.values())
        assert all(truncations.values()) == (t == n_slots)
        assert any(truncations.values()) == (t == n_slots)
    assert env.agents == []
    with pytest.raises(mec_env.ActionError, match="reset"):
        env.step(act)
    env.reset(seed=1)
    assert len(env.agents) == env.config.n_uds


def test_aec_env_plays_an_episode():
    aec = mec_env.env("small", n_slots=3)
    aec.reset(seed=0)
    steps = 0
    for agent in aec.agent_iter():
        obs, reward, termination, truncation, info = aec.last()
        assert aec.observation_space(agent).contains(obs)
        aec.step(None if termination or truncation else aec.action_space(agent).sample())
        steps += 1
    assert steps == 8 * 3 + 8  # 6 UDs + 2 ESs act 3 times, then each is removed once


# ------------------------------------------------------------------ the docs page runs


def test_docs_code_blocks_run(capsys):
    page = Path(__file__).resolve().parents[2] / "docs" / "environment.md"
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    with mec_env.MATCHERS.restored(), mec_env.ADMISSIONS.restored():
        for block in blocks:
            exec(compile(block, str(page), "exec"), {"__name__": "docs_example"})
    out = capsys.readouterr().out
    assert "mean cost per UD-slot" in out
    assert "[0 1 0 1 0 1]" in out


def test_help_on_the_factories_shows_the_reference_page():
    """Both factories carry the reference page, the docstring of the ParallelEnv's module."""
    import pydoc

    from mec_env.adapters import parallel

    reference = parallel.__doc__
    assert reference.startswith("# MEC task offloading")
    for factory in (mec_env.env, mec_env.parallel_env):
        assert reference in factory.__doc__
        assert "MEC task offloading" in pydoc.render_doc(factory)


# ------------------------------------------------------------------ packaging


def test_torchrl_env_without_torchrl_names_the_extra():
    """Without torchrl/tensordict, importing the native TorchRL env says which extra to
    install (was: ``ModuleNotFoundError: No module named 'tensordict'``)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "sys.modules['tensordict'] = sys.modules['torchrl'] = None\n"
        "try:\n"
        "    from mec_env.torchrl_env import MECTorchRLEnv\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    assert 'pip install "mec-env[torchrl]"' in out, out


def test_package_declares_its_types_and_ships_its_data():
    import tomllib

    root = Path(__file__).resolve().parents[2]
    assert (root / "mec_env" / "py.typed").is_file()
    conf = tomllib.loads((root / "pyproject.toml").read_text())
    package_data = conf["tool"]["setuptools"]["package-data"]["mec_env"]
    assert "py.typed" in package_data and "data/*.json" in package_data


# ------------------------------------------------------------------ the package's names


def test_raw_env_is_the_aec_class():
    """PettingZoo's convention: ``raw_env`` is the AEC class, ``env`` it wrapped (was: an alias
    of ``parallel_env``)."""
    from pettingzoo import AECEnv
    from pettingzoo.utils.wrappers import OrderEnforcingWrapper

    raw = mec_env.raw_env("small", n_slots=3)
    assert isinstance(mec_env.raw_env, type) and isinstance(raw, AECEnv)
    assert isinstance(raw.env, mec_env.MECParallelEnv)
    wrapped = mec_env.env("small")
    assert isinstance(wrapped, OrderEnforcingWrapper) and isinstance(wrapped.env, mec_env.raw_env)
    api_test(mec_env.raw_env("small"), num_cycles=5)


def test_mec_env_env_is_the_factory_only():
    """No module hides behind the factory's name (was: ``import mec_env.env`` gave the factory
    and ``sys.modules["mec_env.env"]`` the module); the page lives in mec_env.adapters.parallel."""
    import importlib.util

    assert importlib.util.find_spec("mec_env.env") is None
    assert callable(mec_env.env) and callable(mec_env.parallel_env)
    with pytest.raises(ModuleNotFoundError, match="No module named 'mec_env.env'"):
        importlib.import_module("mec_env.env")


def test_dir_shows_the_public_names_only():
    """(was: ``sys``, ``Any``, ``annotations``, ``parallel_to_aec`` among them)"""
    import types

    names = dir(mec_env)
    assert set(mec_env.__all__) <= set(names)
    extra = [
        n
        for n in names
        if n not in mec_env.__all__
        and n != "__version__"
        and not isinstance(getattr(mec_env, n), types.ModuleType)
    ]
    assert extra == []
    for name in ("sys", "Any", "annotations", "parallel_to_aec"):
        assert name not in names
    for name in mec_env.__all__:
        assert getattr(mec_env, name) is not None
