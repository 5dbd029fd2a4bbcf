"""DNN split tasks in the environment (``task_model: dnn``, the ``dnn_split`` preset): the
split cost of a played slot by hand from the shipped catalog, the ES storing the activation,
x^u read as the share offloaded, the config keys, vector == single, and the best-split rule
against both whole-task extremes. PettingZoo's api and seed tests cover ``dnn_split`` in
test_api.py; the pure split physics is in test_dnn_split.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.testing import assert_allclose

import mec_env
from mec_env.config import make_config
from mec_env.errors import ConfigError
from mec_env.policies import env_overrides_for, make_policy
from mec_env.sim import dnn
from tests.env.test_vector import play_both

CPM = 0.125  # dnn_split's cycles per MAC


def catalog_net(name: str) -> dict:
    return json.loads(dnn.CATALOG_PATH.read_text())["networks"][name]


def by_hand(name: str, s: int) -> tuple[float, float, float]:
    """(UD cycles of units 1..s, bits uploaded after unit s, ES cycles of units s+1..L) of
    catalog network ``name`` at dnn_split's 8 MACs per cycle and 8-bit activations."""
    units = catalog_net(name)["units"]
    macs = [u["macs"] for u in units]
    up = catalog_net(name)["input_bits"] if s == 0 else 8 * units[s - 1]["out_elements"]
    return CPM * sum(macs[:s]), float(up if s < len(units) else 0), CPM * sum(macs[s:])


def one_ud(**overrides):
    env = mec_env.parallel_env("dnn_split", n_uds=1, n_servers=1, es_agents=False, **overrides)
    env.reset(seed=3)
    return env


def network_of(env) -> str:
    plan = dnn.SplitPlan.for_config(env.config)
    return env.config.dnn_networks[int(plan.network_of(env.current_slot.cycles_per_bit)[0])]


def test_the_preset_takes_beta_and_c_from_the_catalog():
    cfg = make_config("dnn_split")
    assert cfg.split_tasks and cfg.task_bits == (1_204_224.0, 1_204_224.0)  # 3·224·224·8 bits
    total = {n: catalog_net(n)["total_macs"] for n in cfg.dnn_networks}
    # c = the network's cycles per input bit: MobileNetV2 the lightest, VGG-16 the heaviest
    assert cfg.cycles_per_bit[0] == pytest.approx(CPM * total["mobilenet_v2"] / 1_204_224)
    assert cfg.cycles_per_bit[1] == pytest.approx(CPM * total["vgg16"] / 1_204_224)
    assert make_config("paper_kb").split_tasks is False


@pytest.mark.parametrize("s_frac", [0.0, 0.3, 0.6, 1.0])
def test_a_split_slot_by_hand(s_frac):
    """One UD alone at an idle ES: units 1..s locally at f, the activation uploaded at p,
    units s+1..L at f_s; delay τ^l + τ^o + τ^p, energy κ C^l f² + p τ^o (eqs. 3, 4, 7-10)."""
    env = one_ud()
    name = network_of(env)
    n_units = len(catalog_net(name)["units"])
    s = int(round(s_frac * (n_units - 1)))  # a split that offloads (s < L)
    x = (n_units - s + 0.5) / (n_units + 1)  # the centre of the bin of share L − s
    f, p = 1.0e9, 0.1
    cfg = env.config
    env.step({"ud_0": np.array([x, f / cfg.f_max_hz, p / cfg.p_max_w], np.float32)})
    out = env.last_step
    assert out["split"][0] == s and out["offloaded"][0]
    f_used = float(out["f_hz"][0])
    p_used = float(out["p_w"][0])
    local, bits, remote = by_hand(name, s)
    g = float(out["gain"][0, 0])
    rate = cfg.subchannel_bw_hz[0] * np.log2(1.0 + p_used * g)  # eq. (6)
    tau = local / f_used + bits / rate + remote / cfg.f_server_hz[0]
    energy = cfg.kappa * local * f_used**2 + p_used * bits / rate
    assert_allclose(out["delay_s"][0], tau, rtol=1e-12)
    assert_allclose(out["energy_j"][0], energy, rtol=1e-12)


def test_x_zero_runs_the_whole_network_locally():
    env = one_ud()
    name = network_of(env)
    cfg = env.config
    env.step({"ud_0": np.array([0.0, 1.0, 1.0], np.float32)})
    out = env.last_step
    local, _, _ = by_hand(name, len(catalog_net(name)["units"]))
    assert out["split"][0] == len(catalog_net(name)["units"]) and not out["requested"][0]
    assert_allclose(out["delay_s"][0], local / cfg.f_max_hz, rtol=1e-12)
    assert_allclose(out["energy_j"][0], cfg.kappa * local * cfg.f_max_hz**2, rtol=1e-12)


def test_the_es_stores_the_activation_not_the_input():
    """With D_m below the input image (1.2 Mbit) the whole task cannot be admitted (it runs
    locally), but a late split whose activation fits is."""
    env = one_ud(storage_bytes=30_000, dnn_networks=["resnet18"])  # 240 kbit
    units = catalog_net("resnet18")["units"]
    env.step({"ud_0": np.array([1.0, 1.0, 1.0], np.float32)})  # s = 0: upload the input
    assert env.last_step["requested"][0] and not env.last_step["offloaded"][0]
    # what fits: the outputs of layer4's two blocks, 512·7·7 int8 values = 200,704 bits
    fits = [k for k in range(1, len(units)) if 8 * units[k - 1]["out_elements"] <= 240_000]
    assert fits == [len(units) - 2, len(units) - 1] and 8 * units[-2]["out_elements"] == 200_704
    s = fits[0]
    x = (len(units) - s + 0.5) / (len(units) + 1)
    env.step({"ud_0": np.array([x, 1.0, 1.0], np.float32)})
    assert env.last_step["split"][0] == s and env.last_step["offloaded"][0]


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("dnn_networks", [], "non-empty list"),
        ("dnn_networks", ["alexnet"], "non-empty list"),
        ("dnn_networks", ["vgg16", "vgg16"], "distinct"),
        ("cycles_per_mac", 0.0, "> 0"),
        ("activation_bits", 0, "1..64"),
        ("activation_bits", 2.5, "1..64"),
    ],
)
def test_bad_dnn_keys_are_one_line_errors(key, value, message):
    with pytest.raises(ConfigError, match=message) as err:
        make_config("dnn_split", **{key: value})
    assert "\n" not in str(err.value) and key in str(err.value)


def test_vector_equals_single_on_dnn_split():
    play_both("dnn_split", num_envs=2, episodes=1)
    play_both("dnn_split", num_envs=2, episodes=1, actions="offload", es_agents=False)


def test_split_tasks_play_with_queues():
    """DNN tasks wait in the time-coupled model's queues like any task (c names the network,
    so a queued task keeps it)."""
    play_both("queue_small", num_envs=2, episodes=1, task_model="dnn", cycles_per_mac=CPM)


def test_best_split_beats_both_whole_task_extremes():
    costs = {}
    for name in ("all_local", "all_offload", "best_split"):
        env = mec_env.parallel_env("dnn_split", **env_overrides_for(name))
        policy = make_policy(name, env, seed=0)
        total = []
        for episode in range(2):
            obs, _ = env.reset(seed=100 + episode)
            while env.agents:
                obs, *_ = env.step(policy(obs))
                total.append(env.last_step["cost"].mean())
        costs[name] = float(np.mean(total))
    assert costs["best_split"] < min(costs["all_local"], costs["all_offload"]), costs


def test_the_oracle_over_split_points_is_exact_and_below_the_rules():
    """On dnn_split_small the oracle enumerates every combination of split points: its
    predicted objective is what the slot then gives, and no rule beats it on any slot (the
    slots' tasks and gains do not depend on the actions)."""
    from mec_env.policies import slot_objective

    per_policy = {}
    for name in ("oracle", "best_split", "greedy", "all_offload", "all_local"):
        env = mec_env.parallel_env("dnn_split_small", **env_overrides_for(name))
        policy = make_policy(name, env, seed=0)
        obs, _ = env.reset(seed=5)
        objectives = []
        for _ in range(4):
            obs, *_ = env.step(policy(obs))
            objectives.append(slot_objective(env))
            if name == "oracle":
                assert objectives[-1] == pytest.approx(policy.last_objective, rel=1e-12)
        per_policy[name] = np.array(objectives)
    for name, objectives in per_policy.items():
        assert np.all(per_policy["oracle"] <= objectives * (1 + 1e-12)), name


def test_the_oracle_refuses_too_many_split_combinations():
    env = mec_env.parallel_env("dnn_split_small", n_uds=8, z_max=8)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="2\\^20"):
        make_policy("oracle", env)(None)
