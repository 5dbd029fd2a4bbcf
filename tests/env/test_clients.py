"""mec_env in the clients users train with: TorchRL, SuperSuit and PettingZoo's AEC API.

Each test runs the client on the ``small`` preset and checks that what comes out of it is what
the plain ParallelEnv gives for the same seed and actions (docs/ecosystem.md shows the same
calls). TorchRL and SuperSuit are optional: their tests are skipped when they are missing, and
the rest still runs on a bare ``pip install mec_env``.
"""

from __future__ import annotations

import re
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from pettingzoo.test import api_test

import mec_env

ES_ON = {}
ES_OFF = {"es_agents": False, "admission": "saving_first"}
ES_BOX = {"es_action_space": "box"}
SETTINGS = {"es_on": ES_ON, "es_off": ES_OFF}


@pytest.fixture(autouse=True)
def _quiet_client_warnings():
    # TorchRL warns that it is tested with pettingzoo 1.24.3; PettingZoo's api_test that
    # MultiBinary is not Box/Discrete and that the UD and ES spaces differ (by design).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def replay(actions: list[dict], seed: int, **overrides) -> list[tuple]:
    """The plain ParallelEnv reset with ``seed`` and stepped with ``actions``: per step
    (rewards, infos)."""
    env = mec_env.parallel_env("small", **overrides)
    env.reset(seed=seed)
    out = []
    for act in actions:
        _, rewards, _, _, infos = env.step(act)
        out.append((rewards, infos))
    return out


# ------------------------------------------------------------------ TorchRL


@pytest.fixture(scope="module")
def torchrl():
    return pytest.importorskip("torchrl")


def wrapped(torchrl, **overrides):
    from torchrl.envs import PettingZooWrapper

    return PettingZooWrapper(env=mec_env.parallel_env("small", **overrides), return_state=True)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_torchrl_rollout_carries_the_env_values(torchrl, setting):
    overrides = SETTINGS[setting]
    env = wrapped(torchrl, **overrides)
    pz = mec_env.parallel_env("small", **overrides)
    n, m = pz.n_uds, pz.n_servers
    groups = {"ud": pz.ud_agents, **({"es": pz.es_agent_names} if pz.es_agent_names else {})}
    assert env.group_map == groups

    td = env.rollout(12, auto_reset=False, tensordict=env.reset(seed=3))
    t = pz.config.n_slots  # the rollout stops at the truncation
    assert td.batch_size == (t,)
    assert td["ud", "observation"].shape == (t, n, 2 * m + 7)
    assert td["ud", "action"].shape == (t, n, 3)
    assert td["state"].shape == (t, pz.state_space.shape[0])
    assert td["next", "ud", "reward"].shape == (t, n, 1)
    assert set(td["next", "ud", "info"].keys()) == set(mec_env.UD_INFO_KEYS)
    assert td["next", "ud", "info", "gain"].shape == (t, n, m)
    assert td["next", "truncated"][:, 0].tolist() == [False] * (t - 1) + [True]
    if "es" in groups:
        assert td["es", "observation"].shape == (t, m, 6 * 4 + 3)
        assert td["es", "action"].shape == (t, m, 4)
        assert set(td["next", "es", "info"].keys()) == set(mec_env.ES_INFO_KEYS)
        assert td["es", "info", "members"].shape == (t, m, 4)

    # the same episode in the plain env: same rewards and infos (float32 in TorchRL)
    actions = [
        {
            a: td[g, "action"][s, i].numpy()
            for g, agents in groups.items()
            for i, a in enumerate(agents)
        }
        for s in range(t)
    ]
    for s, (rewards, infos) in enumerate(replay(actions, 3, **overrides)):
        for g, agents in groups.items():
            assert_allclose(
                td["next", g, "reward"][s, :, 0].numpy(), [rewards[a] for a in agents], rtol=1e-6
            )
            for key in ("slot_mean_cost", "slot_offload_rate", "slot_admission_cuts"):
                assert_allclose(
                    td["next", g, "info", key][s].numpy(),
                    [infos[a][key] for a in agents],
                    rtol=1e-6,
                )
        assert_array_equal(
            td["next", "ud", "info", "offloaded"][s].numpy(),
            [infos[a]["offloaded"] for a in pz.ud_agents],
        )
        if "es" in groups:
            assert_array_equal(
                td["next", "es", "info", "members"][s].numpy(),
                [infos[a]["members"] for a in pz.es_agent_names],
            )


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_torchrl_check_env_specs(torchrl, setting):
    from torchrl.envs.utils import check_env_specs

    check_env_specs(wrapped(torchrl, **SETTINGS[setting]), seed=0)


def test_torchrl_heterogeneous_servers_one_group_per_es(torchrl):
    """ESs with different z_max have differently shaped spaces: one TorchRL group each."""
    from torchrl.envs import PettingZooWrapper
    from torchrl.envs.utils import check_env_specs

    overrides = {"n_uds": 9, "n_servers": 3, "z_max": [2, 4, 3]}
    pz = mec_env.parallel_env("small", **overrides)
    group_map = {"ud": pz.ud_agents, **{a: [a] for a in pz.es_agent_names}}
    env = PettingZooWrapper(env=pz, return_state=True, group_map=group_map)
    check_env_specs(env, seed=0)
    td = env.rollout(12)
    assert [td[a, "action"].shape[-1] for a in pz.es_agent_names] == [2, 4, 3]
    assert [td["next", a, "info", "members"].shape[-1] for a in pz.es_agent_names] == [2, 4, 3]


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_torchrl_collector_runs_across_episodes(torchrl, setting):
    collectors = pytest.importorskip("torchrl.collectors")
    # torchrl 0.14 calls it Collector; earlier releases SyncDataCollector
    collector_cls = getattr(collectors, "Collector", None) or collectors.SyncDataCollector
    env = wrapped(torchrl, **SETTINGS[setting])
    collector = collector_cls(env, policy=None, frames_per_batch=15, total_frames=45)
    truncated, costs = [], []
    try:
        for batch in collector:
            assert batch.batch_size == (15,)
            truncated += batch["next", "truncated"][:, 0].tolist()
            costs += batch["next", "ud", "info", "slot_mean_cost"][:, 0].tolist()
            assert batch["next", "ud", "reward"].shape == (15, 6, 1)
    finally:
        collector.shutdown()
    # 45 frames = 4.5 episodes of 10 slots, reset automatically after each truncation
    assert [i for i, x in enumerate(truncated) if x] == [9, 19, 29, 39]
    assert all(c > 0.0 for c in costs)


# ------------------------------------------------------------------ SuperSuit


@pytest.fixture(scope="module")
def ss():
    return pytest.importorskip("supersuit")


def padded(ss, **overrides):
    return ss.pad_action_space_v0(
        ss.pad_observations_v0(mec_env.parallel_env("small", **overrides))
    )


@pytest.mark.parametrize("overrides", [ES_BOX, ES_OFF], ids=["es_on_box", "es_off"])
def test_supersuit_pad_and_vectorise(ss, overrides):
    pz = mec_env.parallel_env("small", **overrides)
    env = padded(ss, **overrides)
    k = len(pz.possible_agents)
    obs_dim = 6 * 4 + 3 if pz.es_agent_names else 2 * pz.n_servers + 7
    act_dim = 4 if pz.es_agent_names else 3
    for a in pz.possible_agents:
        assert env.observation_space(a).shape == (obs_dim,)
        assert env.action_space(a) == env.action_space(pz.possible_agents[0])
    vec = ss.concat_vec_envs_v1(
        ss.pettingzoo_env_to_vec_env_v1(env), 2, num_cpus=0, base_class="gymnasium"
    )
    assert vec.num_envs == 2 * k
    assert vec.action_space.shape == (act_dim,)
    obs, infos = vec.reset(seed=0)
    assert obs.shape == (2 * k, obs_dim) and len(infos) == 2 * k
    rng = np.random.default_rng(0)
    truncated_at = []
    for t in range(2 * pz.config.n_slots):
        obs, rewards, terms, truncs, infos = vec.step(
            rng.random((2 * k, act_dim), dtype=np.float32)
        )
        assert obs.shape == (2 * k, obs_dim) and rewards.shape == (2 * k,)
        assert np.all(np.isfinite(rewards)) and not terms.any()
        # SuperSuit adds the last observation of an episode when it resets the copy
        extra = ["terminal_observation"] if truncs.all() else []
        assert list(infos[0]) == [*mec_env.UD_INFO_KEYS, *extra]
        if pz.es_agent_names:
            assert list(infos[k - 1]) == [*mec_env.ES_INFO_KEYS, *extra]
        if truncs.all():
            truncated_at.append(t)
            # documented limitation: SuperSuit merges the next episode's reset infos over the
            # last step's, so the last slot's infos read as a reset (docs/ecosystem.md)
            assert infos[0]["slot_mean_cost"] == 0.0 and infos[0]["cost"] == 0.0
        else:
            assert infos[0]["slot_mean_cost"] > 0.0
    assert truncated_at == [9, 19]  # each copy resets itself after its last slot
    vec.close()


def test_supersuit_padding_passes_the_env_its_own_actions(ss):
    """Padded actions are cut back to each agent's space: the same episode as the plain env."""
    env = padded(ss, **ES_BOX)
    env.reset(seed=4)
    rng = np.random.default_rng(4)
    actions = []
    for _ in range(10):
        act = {a: rng.random(4, dtype=np.float32) for a in env.possible_agents}
        _, rewards, _, _, infos = env.step(act)
        actions.append((act, rewards, infos))
    plain = replay(
        [
            {a: v[: 3 if a.startswith("ud_") else 4] for a, v in act.items()}
            for act, _, _ in actions
        ],
        4,
        **ES_BOX,
    )
    for (_, rewards, infos), (rewards_plain, infos_plain) in zip(actions, plain, strict=True):
        assert rewards == rewards_plain
        assert infos["ud_0"]["slot_mean_cost"] == infos_plain["ud_0"]["slot_mean_cost"]


def test_supersuit_needs_the_box_option_with_es_agents(ss):
    """MultiBinary (the default) and Box cannot be padded to one space; the error says so."""
    with pytest.raises(AssertionError, match="same general shape"):
        padded(ss, **ES_ON)


# ------------------------------------------------------------------ AEC


@pytest.mark.parametrize("overrides", [ES_ON, ES_OFF, ES_BOX], ids=["es_on", "es_off", "box"])
def test_aec_api_and_episode(overrides):
    api_test(mec_env.env("small", **overrides), num_cycles=25)
    env = mec_env.env("small", **overrides)
    env.reset(seed=2)
    assert all(list(env.infos[a]) == keys_of(a) for a in env.agents)
    rng = np.random.default_rng(2)
    actions, cycle, costs = [], {}, []
    for agent in env.agent_iter():
        _, reward, terminated, truncated, info = env.last()
        assert list(info) == keys_of(agent)
        if terminated or truncated:
            env.step(None)
            continue
        space = env.action_space(agent)
        act = rng.random(space.shape, dtype=np.float32)
        if not isinstance(space, type(env.action_space("ud_0"))):
            act = (act >= 0.5).astype(np.int8)  # MultiBinary
        cycle[agent] = act
        env.step(act)
        if len(cycle) == len(env.possible_agents):  # the parallel step has run
            actions.append(cycle)
            cycle = {}
            costs.append(env.infos["ud_0"]["slot_mean_cost"])
    plain = replay(actions, 2, **overrides)
    assert len(actions) == 10
    assert costs == [infos["ud_0"]["slot_mean_cost"] for _, infos in plain]


def keys_of(agent: str) -> list[str]:
    return list(mec_env.UD_INFO_KEYS if agent.startswith("ud_") else mec_env.ES_INFO_KEYS)


# ------------------------------------------------------------------ docs/ecosystem.md


def test_ecosystem_page_snippets_print_what_the_page_shows(torchrl, ss, capsys):
    """Every python block of docs/ecosystem.md not marked "not run in CI" runs as pasted and
    prints the output block shown under it (TorchRL's log line aside)."""
    page = Path(__file__).resolve().parents[2] / "docs" / "ecosystem.md"
    pairs = re.findall(
        r"^( *)```python\n(.*?)^\1```\n\n\1```\n(.*?)^\1```", page.read_text("utf-8"), re.S | re.M
    )
    ran = 0
    for _, code, shown in pairs:
        code, shown = textwrap.dedent(code), textwrap.dedent(shown)
        if "not run in CI" in code:
            continue
        exec(compile(code, str(page), "exec"), {"__name__": "ecosystem_example"})
        printed = capsys.readouterr().out.splitlines()
        expected = [line for line in shown.splitlines() if "[torchrl]" not in line]
        assert [line for line in printed if "check_env_specs" not in line] == expected
        ran += 1
    assert ran == 5
