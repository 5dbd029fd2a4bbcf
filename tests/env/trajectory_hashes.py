"""Stored trajectory hashes: what every preset, matcher, admission rule and ES option gives.

A case is a config (preset plus overrides). For each case and seed, one episode is played from
``reset(seed)`` with actions drawn from ``np.random.default_rng(ACTION_SEED + seed)``, and every
step's observations, rewards, truncations and infos (the keys frozen below, so that new info keys
of new scenarios do not change the paper presets' hashes) are hashed in a canonical layout. The
single env and each copy of a ``vector_env`` give the same canonical bytes, with numpy or with
the compiled kernels, so one stored hash per case and seed checks all four.

``python -m tests.env.trajectory_hashes`` rewrites ``data/trajectory_hashes.json``: do that only
for a change that is meant to change trajectories, and say so in the commit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

import mec_env
from tests.env.helpers import HETEROGENEOUS

HASH_FILE = Path(__file__).parent / "data" / "trajectory_hashes.json"
SEEDS = (0, 1, 2)
ACTION_SEED = 9100

UD_KEYS = (
    "task_bytes", "cycles_per_bit", "deadline_s", "server", "requested", "offloaded", "f_hz",
    "p_w", "delay_s", "energy_j", "cost", "penalty", "timed_out", "battery_j", "below_b_min",
    "gain",
)  # fmt: skip
ES_KEYS = ("requests", "admitted", "cuts", "members")
SLOT_KEYS = (
    "slot_mean_cost", "slot_timeout_rate", "slot_offload_rate", "slot_participation_rate",
    "slot_below_battery_rate", "slot_admission_cuts",
)  # fmt: skip


def _cases() -> dict[str, tuple[str, dict[str, Any]]]:
    cases: dict[str, tuple[str, dict[str, Any]]] = {}
    for preset in ("paper", "paper_kb", "paper_energy", "small"):
        cases[preset] = (preset, {})
        cases[f"{preset}-no_es"] = (preset, {"es_agents": False})
    for matcher in ("co_selection", "max_gain", "random"):
        cases[f"small-{matcher}"] = ("small", {"matcher": matcher})
        for admission in ("accept_all", "offload_cost_first", "deadline_first", "saving_first"):
            cases[f"small-{matcher}-{admission}-no_es"] = (
                "small",
                {"matcher": matcher, "admission": admission, "es_agents": False},
            )
    cases["paper_kb-max_gain-saving_first-no_es"] = (
        "paper_kb",
        {"matcher": "max_gain", "admission": "saving_first", "es_agents": False},
    )
    cases["heterogeneous"] = ("small", dict(HETEROGENEOUS))
    cases["heterogeneous-no_es-saving_first"] = (
        "small",
        {**HETEROGENEOUS, "es_agents": False, "admission": "saving_first"},
    )
    cases["small-es_box"] = ("small", {"es_action_space": "box"})
    cases["small-raw_obs"] = ("small", {"normalize_obs": False})
    cases["paper_energy-max_gain-no_es"] = (
        "paper_energy",
        {"matcher": "max_gain", "es_agents": False},
    )
    return cases


CASES = _cases()


def _actions(rng: np.random.Generator, cfg) -> tuple[np.ndarray, np.ndarray]:
    """UD actions (N, 3) and ES draws (M, Z) in [0, 1), the same for both adapters."""
    ud = rng.random((cfg.n_uds, 3)).astype(np.float32)
    es = rng.random((cfg.n_servers, int(cfg.z_max.max()))).astype(np.float32)
    return ud, es


def _es_action(es_row: np.ndarray, z: int, box: bool) -> np.ndarray:
    return es_row[:z].copy() if box else (es_row[:z] >= 0.5).astype(np.int8)


class _Hasher:
    def __init__(self) -> None:
        self._h = hashlib.sha256()

    def add(self, arr: Any) -> None:
        a = np.asarray(arr)
        if a.dtype == bool:
            a = a.astype(np.uint8)
        elif a.dtype.kind in "iu":
            a = a.astype(np.int64)
        elif a.dtype != np.float32:
            a = a.astype(np.float64)
        self._h.update(str(a.shape).encode())
        self._h.update(np.ascontiguousarray(a).tobytes())

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def single_hash(preset: str, overrides: dict[str, Any], seed: int, kernels: str) -> str:
    """One episode of ``parallel_env`` from ``reset(seed)``, hashed."""
    env = mec_env.parallel_env(preset, kernels=kernels, **overrides)
    cfg = env.config
    n, m, zcap = cfg.n_uds, cfg.n_servers, int(cfg.z_max.max())
    uds = [f"ud_{i}" for i in range(n)]
    ess = [f"es_{j}" for j in range(m)] if cfg.es_agents else []
    box = cfg.es_action_space == "box"
    rng = np.random.default_rng(ACTION_SEED + seed)
    h = _Hasher()
    obs, infos = env.reset(seed=seed)
    _add_single(h, obs, None, None, infos, uds, ess, zcap)
    for _ in range(cfg.n_slots):
        ud, es = _actions(rng, cfg)
        actions = {a: ud[i] for i, a in enumerate(uds)}
        for j, a in enumerate(ess):
            actions[a] = _es_action(es[j], int(cfg.z_max[j]), box)
        obs, rew, _, trunc, infos = env.step(actions)
        _add_single(h, obs, rew, trunc, infos, uds, ess, zcap)
    return h.hexdigest()


def _add_single(h, obs, rew, trunc, infos, uds, ess, zcap) -> None:
    h.add(np.stack([obs[a] for a in uds]))
    for a in ess:
        h.add(obs[a])
    if rew is not None:
        h.add([rew[a] for a in uds])
        h.add([rew[a] for a in ess])
        h.add([trunc[a] for a in uds + ess])
    for key in UD_KEYS:
        h.add(np.stack([np.asarray(infos[a][key]) for a in uds]))
    for key in SLOT_KEYS:
        h.add(infos[uds[0]][key])
    for key in ES_KEYS:
        if key == "members":
            pad = np.full((len(ess), zcap), -1, dtype=np.int64)
            for j, a in enumerate(ess):
                mem = infos[a][key]
                pad[j, : mem.shape[0]] = mem
            h.add(pad)
        else:
            h.add([infos[a][key] for a in ess])


def vector_hashes(preset: str, overrides: dict[str, Any], kernels: str) -> list[str]:
    """One episode of each copy of a ``vector_env(len(SEEDS))``, copy b reset with SEEDS[b]."""
    env = mec_env.vector_env(len(SEEDS), preset, kernels=kernels, **overrides)
    cfg = env.config
    zcap = int(cfg.z_max.max())
    box = cfg.es_action_space == "box"
    rngs = [np.random.default_rng(ACTION_SEED + s) for s in SEEDS]
    hashers = [_Hasher() for _ in SEEDS]
    obs, infos = env.reset(seed=list(SEEDS))
    _add_vector(hashers, obs, None, None, infos, cfg, zcap)
    for _ in range(cfg.n_slots):
        draws = [_actions(r, cfg) for r in rngs]
        actions = {"ud": np.stack([d[0] for d in draws])}
        if cfg.es_agents:
            es = np.stack([d[1] for d in draws])
            actions["es"] = es if box else (es >= 0.5).astype(np.int8)
        obs, rew, _, trunc, infos = env.step(actions)
        _add_vector(hashers, obs, rew, trunc, infos, cfg, zcap)
    return [h.hexdigest() for h in hashers]


def _add_vector(hashers, obs, rew, trunc, infos, cfg, zcap) -> None:
    m = cfg.n_servers if cfg.es_agents else 0
    for b, h in enumerate(hashers):
        h.add(obs["ud"][b])
        for j in range(m):
            z = int(cfg.z_max[j])
            h.add(_es_obs(obs["es"][b, j], z, zcap))
        if rew is not None:
            h.add(rew["ud"][b])
            h.add(rew["es"][b] if m else np.zeros(0))
            h.add(np.full(cfg.n_uds + m, trunc[b]))
        for key in UD_KEYS:
            h.add(infos[key][b])
        for key in SLOT_KEYS:
            h.add(infos[key][b])
        for key in ES_KEYS:
            if m == 0:
                h.add(np.zeros((0, zcap) if key == "members" else 0))
            else:
                h.add(infos[key][b])


def _es_obs(row: np.ndarray, z: int, zcap: int) -> np.ndarray:
    """An ES's vector observation (its 6 z place entries, zeros up to 6 Z, 3 loads) cut to the
    single env's 6 z + 3."""
    if z == zcap:
        return row
    return np.concatenate([row[: 6 * z], row[-3:]])


def record() -> dict[str, list[str]]:
    """The current code's hashes of every case (numpy, single env)."""
    return {
        name: [single_hash(preset, ov, s, "numpy") for s in SEEDS]
        for name, (preset, ov) in CASES.items()
    }


if __name__ == "__main__":
    HASH_FILE.parent.mkdir(exist_ok=True)
    HASH_FILE.write_text(json.dumps(record(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(CASES)} cases to {HASH_FILE}")
