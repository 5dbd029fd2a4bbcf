"""The time-coupled presets play the stored trajectories, bit for bit: the single env, each copy
of a ``vector_env`` stepped in lock step, and each copy stepped a few copies at a time
(``step_copies``: the core's row paths), with random actions and with the greedy policy.

Recorded before the batched queued step was optimised, so that a faster step is checked to
give the same results. Every step hashes (in the canonical layout of
:mod:`tests.env.trajectory_hashes`, one hash per case and seed for every adapter) the UD and ES
observations, the rewards, the truncations, the core's per-UD step outputs (incl. ``served``,
``local``, ``dropped``, ``wait_s``), the per-ES counts and places, and the queue lengths.

``python -m tests.env.test_queue_hashes`` rewrites ``data/queue_trajectory_hashes.json``: do
that only for a change that is meant to change the time-coupled trajectories, and say so in
the commit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mec_env
from mec_env.policies import make_policy
from mec_env.sim import fast
from tests.env.trajectory_hashes import ACTION_SEED, _actions, _es_action, _es_obs, _Hasher

HASH_FILE = Path(__file__).parent / "data" / "queue_trajectory_hashes.json"
SEEDS = (0, 1, 2)
OUT_KEYS = (
    "task_bytes", "cycles_per_bit", "deadline_s", "server", "requested", "offloaded", "approved",
    "f_hz", "p_w", "delay_s", "energy_j", "cost", "penalty", "reward", "timed_out", "battery_j",
    "below_b_min", "gain", "harvest_j", "served", "local", "dropped", "wait_s",
)  # fmt: skip
ES_KEYS = ("requests", "admitted", "cuts")
#: case -> (preset, overrides, whether the greedy policy acts)
CASES: dict[str, tuple[str, dict[str, Any], bool]] = {
    "queue": ("queue", {}, False),
    "queue-no_es": ("queue", {"es_agents": False}, False),
    "queue_heavy": ("queue_heavy", {}, False),
    "queue_heavy-no_es": ("queue_heavy", {"es_agents": False}, False),
    "queue_small": ("queue_small", {}, False),
    "queue_small-no_es": ("queue_small", {"es_agents": False}, False),
    "queue_energy": ("queue_energy", {}, False),
    "queue_energy-no_es": ("queue_energy", {"es_agents": False}, False),
    "queue_heavy-greedy": ("queue_heavy", {}, True),
    "queue_small-greedy": ("queue_small", {}, True),
    "queue_energy-greedy": ("queue_energy", {}, True),
    "queue_small-random-matcher": ("queue_small", {"matcher": "random"}, False),
    "queue-max_gain-no_es": ("queue", {"matcher": "max_gain", "es_agents": False}, False),
    "queue_small-poisson": (
        "queue_small", {"arrivals": "poisson", "arrival_rate": 1.2, "max_arrivals": 3}, False,
    ),
    "queue_small-bursty-no_es": (
        "queue_small",
        {"arrivals": "bursty", "arrival_rate": 0.3, "burst_rate": 2.5, "max_arrivals": 4,
         "burst_switch": (0.2, 0.3), "es_agents": False},
        False,
    ),
}  # fmt: skip
KERNELS = ["numpy"] + (["numba"] if fast.available() else [])


def _env_kwargs(preset: str, overrides: dict[str, Any], greedy: bool) -> dict[str, Any]:
    if greedy:
        policy = make_policy("greedy", config=mec_env.parallel_env(preset).config)
        return {**overrides, **policy.env_overrides}
    return dict(overrides)


def _add_step(h: _Hasher, ud_obs, es_obs, rew, trunc, out, es_counts, members, length) -> None:
    """One copy's step (or reset: ``rew`` None) in the canonical layout."""
    h.add(ud_obs)
    for row in es_obs:
        h.add(row)
    h.add(length)
    if rew is None:
        return
    h.add(rew[0])
    h.add(rew[1])
    h.add(trunc)
    for key in OUT_KEYS:
        h.add(out[key])
    for value in es_counts:
        h.add(value)
    h.add(members)


def single_hash(preset: str, overrides: dict[str, Any], greedy: bool, seed: int, kernels: str):
    """One episode of ``parallel_env`` from ``reset(seed)``, hashed."""
    env = mec_env.parallel_env(preset, kernels=kernels, **_env_kwargs(preset, overrides, greedy))
    cfg = env.config
    uds = [f"ud_{i}" for i in range(cfg.n_uds)]
    ess = [f"es_{j}" for j in range(cfg.n_servers)] if cfg.es_agents else []
    policy = make_policy("greedy", env) if greedy else None
    rng = np.random.default_rng(ACTION_SEED + seed)
    h = _Hasher()
    obs, _ = env.reset(seed=seed)
    core = env.unwrapped._core
    _add_step(h, np.stack([obs[a] for a in uds]), [obs[a] for a in ess], None, None, None,
              None, None, core.queues.length[0])  # fmt: skip
    for _ in range(cfg.n_slots):
        if policy is not None:
            actions = policy(obs)
        else:
            ud, es = _actions(rng, cfg)
            actions = {a: ud[i] for i, a in enumerate(uds)}
            for j, a in enumerate(ess):
                actions[a] = _es_action(es[j], int(cfg.z_max[j]), False)
        obs, rew, _, trunc, infos = env.step(actions)
        counts = [[infos[a][k] for a in ess] for k in ES_KEYS]
        members = _members(cfg, [infos[a]["members"] for a in ess])
        rewards = ([rew[a] for a in uds], [rew[a] for a in ess])
        _add_step(h, np.stack([obs[a] for a in uds]), [obs[a] for a in ess], rewards,
                  [trunc[a] for a in uds + ess], env.last_step, counts, members,
                  core.queues.length[0])  # fmt: skip
    return h.hexdigest()


def _members(cfg, rows: list[np.ndarray]) -> np.ndarray:
    pad = np.full((len(rows), int(cfg.z_max.max())), -1, dtype=np.int64)
    for j, mem in enumerate(rows):
        pad[j, : mem.shape[0]] = mem
    return pad


def _vector_actions(env, rngs, policy, copies) -> dict[str, np.ndarray]:
    cfg = env.config
    if policy is not None:
        acts = [policy.act(env.slot_view(b)) for b in copies]
        ud = np.stack([np.stack([a[f"ud_{i}"] for i in range(cfg.n_uds)]) for a in acts])
        return {"ud": ud}  # greedy plays without ES agents
    draws = [_actions(rngs[b], cfg) for b in copies]
    actions = {"ud": np.stack([d[0] for d in draws])}
    if cfg.es_agents:
        actions["es"] = (np.stack([d[1] for d in draws]) >= 0.5).astype(np.int8)
    return actions


def vector_hashes(preset, overrides, greedy, kernels, partial: bool) -> list[str]:
    """One episode of each copy of a ``vector_env(len(SEEDS))``, copy b reset with SEEDS[b]:
    in lock step, or (``partial``) in rounds of ``step_copies`` on changing subsets."""
    env = mec_env.vector_env(len(SEEDS), preset, kernels=kernels,
                             **_env_kwargs(preset, overrides, greedy))  # fmt: skip
    cfg, core = env.config, env.core
    zcap = int(cfg.z_max.max())
    m = cfg.n_servers if cfg.es_agents else 0
    policy = make_policy("greedy", config=cfg) if greedy else None
    rngs = [np.random.default_rng(ACTION_SEED + s) for s in SEEDS]
    hashers = [_Hasher() for _ in SEEDS]
    captured: list[Any] = []
    step = core.step
    core.step = lambda *a, **k: captured.append(step(*a, **k)) or captured[-1]
    obs, _ = env.reset(seed=list(SEEDS))
    for b, h in enumerate(hashers):
        es_obs = [_es_obs(obs["es"][b, j], int(cfg.z_max[j]), zcap) for j in range(m)]
        _add_step(h, obs["ud"][b], es_obs, None, None, None, None, None, core.queues.length[b])
    slots = np.zeros(len(SEEDS), dtype=np.int64)
    for r in range(10 * cfg.n_slots):
        copies = np.flatnonzero(slots < cfg.n_slots)
        if copies.size == 0:
            break
        if partial and r % 3 != 2:
            copies = copies[(copies + r) % 3 != 0] if copies.size > 1 else copies
        actions = _vector_actions(env, rngs, policy, copies.tolist())
        obs, rew, _, trunc, infos = env.step_copies(actions, copies)
        res = captured[-1]
        for i, b in enumerate(copies.tolist()):
            es_obs = [_es_obs(obs["es"][i, j], int(cfg.z_max[j]), zcap) for j in range(m)]
            counts = [res.requests[i][:m], res.admitted[i][:m], res.cuts[i][:m]]
            members = infos["members"][i] if m else np.full((0, zcap), -1, dtype=np.int64)
            rewards = (rew["ud"][i], rew["es"][i] if m else np.zeros(0))
            out = {k: res.out[k][i] for k in OUT_KEYS}
            _add_step(hashers[b], obs["ud"][i], es_obs, rewards, np.full(cfg.n_uds + m, trunc[i]),
                      out, counts, members, core.queues.length[b])  # fmt: skip
        slots[copies] += 1
    return [h.hexdigest() for h in hashers]


def record() -> dict[str, list[str]]:
    """The current code's hashes of every case (numpy, single env)."""
    return {name: [single_hash(*CASES[name], s, "numpy") for s in SEEDS] for name in CASES}


STORED = json.loads(HASH_FILE.read_text()) if HASH_FILE.exists() else {}


def test_every_case_is_stored():
    assert sorted(STORED) == sorted(CASES)


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_single_env_plays_the_stored_queue_trajectories(case, kernels):
    assert [single_hash(*CASES[case], s, kernels) for s in SEEDS] == STORED[case]


@pytest.mark.parametrize("partial", [False, True], ids=["lockstep", "step_copies"])
@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_vector_env_copies_play_the_stored_queue_trajectories(case, kernels, partial):
    assert vector_hashes(*CASES[case], kernels, partial) == STORED[case]


if __name__ == "__main__":
    HASH_FILE.parent.mkdir(exist_ok=True)
    HASH_FILE.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(CASES)} cases to {HASH_FILE}")
