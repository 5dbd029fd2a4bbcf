"""The trainer's rollout over mec_env's batched core equals the per-env PettingZoo rollout it
replaced (ucms_marl.rollout.VectorMECEnv vs PerEnvVectorMECEnv), bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import mec_env
from mec_env.policies import make_policy
from tests.trainer.per_env_rollout import PerEnvVectorMECEnv
from ucms_marl.rollout import Actions, VectorMECEnv

CASES = {
    "es_on": ("small", {}),
    "es_off": ("small", {"es_agents": False, "admission": "saving_first"}),
    "heterogeneous": (
        "small",
        {
            "n_uds": 9,
            "n_servers": 3,
            "z_max": [2, 4, 3],
            "n_cpus": [1, 2, 4],
            "subchannels": [1, 3, 2],
        },
    ),
    "paper_kb_max_gain": ("paper_kb", {"matcher": "max_gain"}),
}


def _assert_obs_equal(a, b):
    assert_array_equal(a.ud_obs, b.ud_obs)
    assert_array_equal(a.state, b.state)
    assert a.ud_obs.dtype == b.ud_obs.dtype and a.state.dtype == b.state.dtype
    if b.es_obs is None:
        assert a.es_obs is None and a.members is None
    else:
        assert_array_equal(a.es_obs, b.es_obs)
        assert_array_equal(a.members, b.members)
    assert len(a.slots) == len(b.slots)
    for va, vb in zip(a.slots, b.slots, strict=True):
        assert va.agents == vb.agents and va.es_agent_names == vb.es_agent_names
        assert_array_equal(va.server, vb.server)
        assert_array_equal(va.members, vb.members)
        for field in ("bits", "cycles_per_bit", "deadline_s", "gain", "battery_j"):
            assert_array_equal(getattr(va.current_slot, field), getattr(vb.current_slot, field))


@pytest.mark.parametrize("case", list(CASES))
def test_batched_rollout_equals_per_env_rollout(case):
    preset, overrides = CASES[case]

    def make():
        return mec_env.parallel_env(preset=preset, **overrides)

    new, old = VectorMECEnv(make, 3), PerEnvVectorMECEnv(make, 3)
    assert new.spec == old.spec
    rng = np.random.default_rng(0)
    for seeds, envs_new, envs_old in (([4, 5, 6], new, old), ([7, 8], new.head(2), old.head(2))):
        a, b = envs_new.reset(seeds), envs_old.reset(seeds)
        _assert_obs_equal(a, b)
        for _ in range(envs_new.envs[0].config.n_slots):
            k, spec = envs_new.num_envs, new.spec
            ud = rng.random((k, spec.n_uds, 3), dtype=np.float32)
            es = (
                rng.integers(0, 2, (k, spec.n_servers, spec.z_cap), dtype=np.int8)
                if spec.es_agents
                else None
            )
            ra, rb = envs_new.step(Actions(ud, es)), envs_old.step(Actions(ud, es))
            _assert_obs_equal(ra.next_obs, rb.next_obs)
            for field in (
                "ud_reward",
                "es_reward",
                "terminated",
                "truncated",
                "ud_requested",
                "ud_offloaded",
                "ud_share",
            ):
                x, y = getattr(ra, field), getattr(rb, field)
                if y is None:
                    assert x is None
                    continue
                assert x.dtype == y.dtype, field
                assert_array_equal(x, y, err_msg=field)
            assert ra.slot == rb.slot
        assert ra.truncated.all()


def test_heuristic_policies_see_the_same_copies():
    """Heuristics decide from Observation.slots alone: the batched core's views give what the
    PettingZoo copies' views give, and what a policy bound to the env itself does."""

    def make():
        return mec_env.parallel_env(preset="small")

    new, old = VectorMECEnv(make, 2), PerEnvVectorMECEnv(make, 2)
    a, b = new.reset([1, 2]), old.reset([1, 2])
    for name in ("greedy", "all_offload", "random", "oracle"):
        config = a.slots[0].config
        pa = [make_policy(name, config=config, seed=0) for _ in range(2)]
        pb = [make_policy(name, config=config, seed=0) for _ in range(2)]
        bound = [make_policy(name, env, seed=0) for env in old.envs]
        for e in range(2):
            da, db, dc = pa[e].act(a.slots[e]), pb[e].act(b.slots[e]), bound[e]()
            assert da.keys() == db.keys() == dc.keys() == set(old.envs[e].agents)
            for key in db:
                assert_array_equal(da[key], db[key])
                assert_array_equal(da[key], dc[key])
    view = a.slots[0]
    assert view.agents == tuple(old.envs[0].agents)
    assert_array_equal(view.current_slot.bits, old.envs[0].unwrapped.current_slot.bits)


def test_an_unbound_policy_says_how_to_call_it():
    policy = make_policy("greedy", config=mec_env.make_config("small"))
    with pytest.raises(TypeError, match=r"bound to no environment: call policy.act\(view\)"):
        policy({})
    with pytest.raises(TypeError, match="needs an environment to read or its config"):
        make_policy("greedy")


def test_only_mec_envs():
    with pytest.raises(TypeError, match="PerEnvVectorMECEnv"):
        VectorMECEnv(lambda: object(), 2)
