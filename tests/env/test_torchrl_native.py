"""The native TorchRL adapter over the batched core (mec_env.torchrl_env): specs, rollouts equal
to parallel_env copy by copy, partial resets, a collector."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import mec_env

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl")

from torchrl.envs.utils import check_env_specs  # noqa: E402

from mec_env.torchrl_env import MECTorchRLEnv  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


@pytest.mark.parametrize(
    ("overrides", "infos"),
    [
        ({}, True),
        ({"es_agents": False, "admission": "saving_first"}, True),
        ({"es_action_space": "box"}, False),
        ({"n_uds": 9, "n_servers": 3, "z_max": [2, 4, 3]}, True),
    ],
)
def test_check_env_specs(overrides, infos):
    check_env_specs(MECTorchRLEnv(3, "small", infos=infos, **overrides), seed=0)


@pytest.mark.parametrize("preset", ["queue", "queue_heavy", "queue_small", "queue_energy"])
def test_check_env_specs_time_coupled_presets(preset):
    overrides = {} if preset == "queue_small" else {"n_uds": 12}
    check_env_specs(MECTorchRLEnv(3, preset, **overrides), seed=0)


@pytest.mark.parametrize(
    ("preset", "overrides"),
    [
        ("small", {}),
        ("queue_small", {"n_slots": 10}),
        ("queue_energy", {"n_uds": 6, "n_slots": 10}),
    ],
)
def test_rollout_equals_parallel_env_copy_by_copy(preset, overrides):
    env = MECTorchRLEnv(2, preset, **overrides)
    env.set_seed(5)
    td = env.rollout(10, break_when_any_done=False)
    assert td.batch_size == (2, 10)
    assert td["next", "truncated"][:, :, 0].tolist() == [[False] * 9 + [True]] * 2
    for b in range(2):
        pz = mec_env.parallel_env(preset, **overrides)
        obs, _ = pz.reset(seed=5 + b)
        assert_array_equal(
            td["ud", "observation"][b, 0].numpy(), np.stack([obs[a] for a in pz.ud_agents])
        )
        for t in range(10):
            act = {a: td["ud", "action"][b, t, i].numpy() for i, a in enumerate(pz.ud_agents)}
            act.update(
                {a: td["es", "action"][b, t, i].numpy() for i, a in enumerate(pz.es_agent_names)}
            )
            obs, rewards, _, _, infos = pz.step(act)
            assert_array_equal(
                td["next", "ud", "reward"][b, t, :, 0].numpy(),
                np.float32([rewards[a] for a in pz.ud_agents]),
            )
            assert_array_equal(
                td["next", "es", "observation"][b, t].numpy(),
                np.stack([obs[a] for a in pz.es_agent_names]),
            )
            assert_array_equal(
                td["next", "ud", "info", "cost"][b, t].numpy(),
                [infos[a]["cost"] for a in pz.ud_agents],
            )
            assert_array_equal(
                td["next", "es", "info", "members"][b, t].numpy(),
                [infos[a]["members"] for a in pz.es_agent_names],
            )
            assert_array_equal(td["next", "state"][b, t].numpy(), pz.state())


def test_partial_reset_only_resets_the_masked_copies():
    env = MECTorchRLEnv(3, "small", n_slots=2)
    td = env.reset()
    td = env.rand_action(td)
    _, td = env.step_and_maybe_reset(td)
    before = td["ud", "observation"].clone()
    mask = torch.tensor([[True], [False], [False]])
    out = env.reset(td.clone().set("_reset", mask))
    assert (out["ud", "observation"][0, :, 5] == 1.0).all()  # full batteries again
    assert_array_equal(out["ud", "observation"][1:].numpy(), before[1:].numpy())


def test_collector_over_the_native_env():
    from torchrl import collectors

    # torchrl 0.14 calls it Collector; earlier releases SyncDataCollector
    collector_cls = getattr(collectors, "Collector", None) or collectors.SyncDataCollector
    env = MECTorchRLEnv(4, "small", infos=False)
    collector = collector_cls(env, None, frames_per_batch=4 * 25, total_frames=4 * 50)
    batches = list(collector)
    collector.shutdown()
    assert len(batches) == 2
    batch = batches[0]
    assert batch["ud", "action"].shape == (4, 25, 6, 3)
    # episodes of 10 slots: each copy was truncated (and reset) at steps 10 and 20
    assert batch["next", "truncated"][0, :, 0].nonzero().flatten().tolist() == [9, 19]
    assert batch["next", "ud", "reward"].abs().sum() > 0


@pytest.mark.parametrize("missing", ["ud", "es"])
def test_step_without_an_action_says_which_key(missing):
    """(was: ``AttributeError: 'NoneType' object has no attribute 'detach'``)"""
    env = MECTorchRLEnv(2, "small")
    td = env.rand_action(env.reset())
    del td[missing, "action"]
    with pytest.raises(mec_env.ActionError, match=rf"has no \('{missing}', 'action'\)"):
        env.step(td)
