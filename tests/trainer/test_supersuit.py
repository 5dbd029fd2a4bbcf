"""SuperSuit's PettingZoo vector wrappers on mec_env, and why the trainer uses its own.

With UD agents only (``es_agents=False``) every agent shares one space, and SuperSuit's
``pettingzoo_env_to_vec_env_v1`` + ``concat_vec_envs_v1`` run mec_env unchanged. With ES
agents the default spaces differ in kind (MultiBinary vs Box), which SuperSuit's padding cannot
homogenise; ``es_action_space="box"`` makes them paddable (tests/env/test_clients.py). See
:mod:`ucms_marl.rollout` for why the trainer still uses its own vector env (state(), per-agent
infos, auto-reset).
"""

from __future__ import annotations

import numpy as np
import pytest

import mec_env

ss = pytest.importorskip("supersuit")

from ucms_marl.rollout import Actions, VectorMECEnv  # noqa: E402


def episode_length(env) -> int:
    env.reset(seed=0)
    steps = 0
    while env.agents:
        env.step({a: env.action_space(a).sample() for a in env.agents})
        steps += 1
    return steps


def test_supersuit_vector_wrappers_run_on_mec_env():
    env = mec_env.parallel_env(preset="small", es_agents=False)
    n_slots = episode_length(mec_env.parallel_env(preset="small", es_agents=False))
    n = len(env.possible_agents)
    vec = ss.concat_vec_envs_v1(
        ss.pettingzoo_env_to_vec_env_v1(env), 2, num_cpus=0, base_class="gymnasium"
    )
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (2 * n, env.observation_space("ud_0").shape[0])
    rng = np.random.default_rng(0)
    truncated_at = []
    for t in range(2 * n_slots):
        obs, rewards, terms, truncs, _ = vec.step(rng.random((2 * n, 3), dtype=np.float32))
        assert rewards.shape == (2 * n,) and np.all(np.isfinite(rewards)) and not terms.any()
        if truncs.all():
            truncated_at.append(t)
    assert truncated_at == [n_slots - 1, 2 * n_slots - 1]  # auto-reset
    vec.close()


def test_supersuit_cannot_homogenise_ud_and_es_agents():
    with pytest.raises(AssertionError, match="observation spaces not consistent"):
        ss.pettingzoo_env_to_vec_env_v1(mec_env.parallel_env(preset="small"))
    with pytest.raises(AssertionError, match="same general shape"):
        ss.pad_action_space_v0(ss.pad_observations_v0(mec_env.parallel_env(preset="small")))


def test_our_vector_env_matches_single_envs():
    """VectorMECEnv stacks exactly what independent ParallelEnvs return (ES agents included)."""
    make = lambda: mec_env.parallel_env(preset="small")  # noqa: E731
    vec = VectorMECEnv(make, 2)
    singles = [make(), make()]
    obs = vec.reset([11, 12])
    ref = [e.reset(seed=s) for e, s in zip(singles, [11, 12], strict=True)]
    rng = np.random.default_rng(0)
    for _ in range(episode_length(make())):
        for e, (o, info) in enumerate(ref):
            np.testing.assert_array_equal(obs.ud_obs[e], np.stack([o[a] for a in vec.ud_agents]))
            np.testing.assert_array_equal(obs.state[e], singles[e].state())
            for m, es in enumerate(vec.es_agents):
                np.testing.assert_array_equal(
                    obs.members[e, m, : len(info[es]["members"])], info[es]["members"]
                )
        ud = rng.random((2, vec.spec.n_uds, 3), dtype=np.float32)
        es = rng.integers(0, 2, (2, vec.spec.n_servers, vec.spec.z_cap), dtype=np.int8)
        result = vec.step(Actions(ud, es))
        dicts = vec.action_dicts(Actions(ud, es))
        ref = []
        for e, env in enumerate(singles):
            o, r, _, tr, info = env.step(dicts[e])
            ref.append((o, info))
            np.testing.assert_allclose(
                result.ud_reward[e], [r[a] for a in vec.ud_agents], rtol=1e-6
            )
            assert result.slot[e]["mean_cost"] == info["ud_0"]["slot_mean_cost"]
        obs = result.next_obs
    assert result.truncated.all()


def test_vector_env_rejects_bad_actions():
    vec = VectorMECEnv(lambda: mec_env.parallel_env(preset="small"), 2)
    vec.reset([0, 1])
    with pytest.raises(ValueError, match="UD actions must have shape"):
        vec.step(Actions(np.zeros((2, 5, 3), np.float32), None))
    with pytest.raises(ValueError, match="must return ES actions"):
        vec.step(Actions(np.zeros((2, 6, 3), np.float32), None))
