"""Several copies of the MEC environment stepped together, agents split by group.

Why not SuperSuit's vector wrappers? ``pettingzoo_env_to_vec_env_v1`` + ``concat_vec_envs_v1``
do run on mec_env when every agent is a UD (``es_agents=False``; ``tests/trainer`` checks it),
but they cannot serve the trainer:

* they need one observation and action space for all agents. ES agents act in
  ``MultiBinary(z_max)`` while UDs act in ``Box(0, 1, (3,))``; SuperSuit's action padding only
  pads spaces of one kind (the env's ``es_action_space="box"`` makes it possible, but then
  every agent, UD or ES, gets the same padded spaces, while the learners keep the groups
  apart);
* they drop ``state()``, which the centralised critics read, and the per-agent ``info`` dicts
  are flattened into one list per step, so ``infos[es]["members"]`` (which tells an ES agent
  which UD each action bit approves) is no longer tied to its agent;
* they auto-reset finished copies, while the trainer wants each episode seeded by its index
  (for exact resume and a fixed evaluation set).

So :class:`VectorMECEnv` does the same job with the public PettingZoo API only: it keeps
``num_envs`` ParallelEnvs (all episodes have ``n_slots`` steps, so the copies stay in lock
step), stacks each group's observations into arrays (``ud_obs``: ``(E, N, obs)``,
``es_obs``: ``(E, M, obs)`` zero-padded to the largest ES), reads ``state()`` and the
documented ``info`` fields, and splits stacked actions back into per-agent dicts. The copies
are stepped in one process: a slot costs about a millisecond, less than a worker round trip.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

UD_ACTION_DIM = 3
SLOT_METRICS = (
    "mean_cost", "timeout_rate", "offload_rate", "participation_rate",
    "below_battery_rate", "admission_cuts",
)  # fmt: skip
# episode metrics under mec/ (and eval/): slot metrics averaged over the slots of an episode,
# delay and energy averaged over UD-slots
EPISODE_METRICS = (
    "return", "cost", "delay_s", "energy_j", "timeout_rate", "participation_rate",
    "below_battery_rate", "offload_rate", "admission_cuts",
)  # fmt: skip


@dataclass(frozen=True)
class EnvSpec:
    """Sizes a learner needs, read from one environment instance."""

    n_uds: int
    n_servers: int
    ud_obs_dim: int
    state_dim: int
    es_agents: bool
    es_obs_dim: int  # padded to the largest ES (0 without ES agents)
    z_max: tuple[int, ...]  # per ES
    ud_action_dim: int = UD_ACTION_DIM

    @property
    def z_cap(self) -> int:
        return max(self.z_max)


@dataclass
class Observation:
    """What the agents see at one step, stacked over env copies (leading axis E)."""

    ud_obs: np.ndarray  # (E, N, ud_obs_dim) float32
    state: np.ndarray  # (E, state_dim) float32
    es_obs: np.ndarray | None  # (E, M, es_obs_dim) float32, zero-padded
    members: np.ndarray | None  # (E, M, z_cap) int64, UD index per ES action bit, -1 empty
    raw: list[dict[str, np.ndarray]]  # per-copy observation dicts (for heuristic policies)
    envs: Sequence[Any]  # the live env copies (heuristic policies read their slot)


@dataclass
class Actions:
    ud: np.ndarray  # (E, N, 3) float32 in [0, 1]
    es: np.ndarray | None = None  # (E, M, z_cap) int8 approval bits
    # learner-private arrays (E, ...) of this step (e.g. the raw samples behind ``ud``/``es``),
    # kept by on-policy rollouts next to the transition fields; the env and replay ignore them
    extras: dict[str, np.ndarray] | None = None


@dataclass
class StepResult:
    next_obs: Observation
    ud_reward: np.ndarray  # (E, N)
    es_reward: np.ndarray | None  # (E, M)
    terminated: np.ndarray  # (E,) bool
    truncated: np.ndarray  # (E,) bool
    ud_requested: np.ndarray  # (E, N) bool
    ud_offloaded: np.ndarray  # (E, N) bool
    ud_share: np.ndarray  # (E, N) −C_n + P_n from the infos: UD n's term of the team reward
    slot: list[dict[str, float]]  # per copy: the env's slot metrics + delay/energy means


class VectorMECEnv:
    """``num_envs`` copies of a mec_env ParallelEnv in lock step; see the module docstring."""

    def __init__(self, make_env: Callable[[], Any], num_envs: int) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.envs = [make_env() for _ in range(int(num_envs))]
        env = self.envs[0]
        agents = list(env.possible_agents)
        self.ud_agents = [a for a in agents if a.startswith("ud_")]
        self.es_agents = [a for a in agents if a.startswith("es_")]
        other = set(agents) - set(self.ud_agents) - set(self.es_agents)
        if other or not self.ud_agents:
            raise ValueError(f"expected agents ud_* and es_*, got {agents}")
        es_dims = [int(np.prod(env.observation_space(a).shape)) for a in self.es_agents]
        z_max = [int(env.action_space(a).shape[0]) for a in self.es_agents]
        ud_obs_dim = int(np.prod(env.observation_space(self.ud_agents[0]).shape))
        # without ES agents, M comes from the UD observation's documented size 2M + 7
        n_servers = len(self.es_agents) or (ud_obs_dim - 7) // 2
        self.spec = EnvSpec(
            n_uds=len(self.ud_agents),
            n_servers=n_servers,
            ud_obs_dim=ud_obs_dim,
            state_dim=int(np.prod(env.state_space.shape)),
            es_agents=bool(self.es_agents),
            es_obs_dim=max(es_dims, default=0),
            z_max=tuple(z_max),
        )

    @property
    def num_envs(self) -> int:
        return len(self.envs)

    def head(self, k: int) -> VectorMECEnv:
        """A view on the first ``k`` copies (for a last, partial batch of episodes)."""
        if not 1 <= k <= self.num_envs:
            raise ValueError(f"head({k}) of {self.num_envs} env copies")
        view = copy.copy(self)
        view.envs = self.envs[:k]
        return view

    def seed_action_spaces(self, seed: int) -> None:
        for i, env in enumerate(self.envs):
            for j, agent in enumerate(env.possible_agents):
                env.action_space(agent).seed(int(seed) + 1000 * i + j)

    # ---------------------------------------------------------------- stacking
    def _observation(self, raw: list[dict], infos: list[dict]) -> Observation:
        spec = self.spec
        ud_obs = np.stack([np.stack([o[a] for a in self.ud_agents]) for o in raw])
        state = np.stack([env.state() for env in self.envs]).astype(np.float32, copy=False)
        es_obs = members = None
        if spec.es_agents:
            es_obs = np.zeros((len(raw), spec.n_servers, spec.es_obs_dim), dtype=np.float32)
            members = np.full((len(raw), spec.n_servers, spec.z_cap), -1, dtype=np.int64)
            for e, (o, info) in enumerate(zip(raw, infos, strict=True)):
                for m, agent in enumerate(self.es_agents):
                    obs_m = np.asarray(o[agent]).ravel()
                    es_obs[e, m, : obs_m.size] = obs_m
                    mem = np.asarray(info[agent]["members"])
                    members[e, m, : mem.size] = mem
        return Observation(
            ud_obs.astype(np.float32, copy=False), state, es_obs, members, raw, self.envs
        )

    def reset(self, seeds: Sequence[int]) -> Observation:
        if len(seeds) != self.num_envs:
            raise ValueError(f"need one seed per env copy ({self.num_envs}), got {len(seeds)}")
        raw, infos = [], []
        for env, seed in zip(self.envs, seeds, strict=True):
            obs, info = env.reset(seed=int(seed))
            raw.append(obs)
            infos.append(info)
        return self._observation(raw, infos)

    def action_dicts(self, actions: Actions) -> list[dict[str, np.ndarray]]:
        spec = self.spec
        if actions.ud.shape != (self.num_envs, spec.n_uds, spec.ud_action_dim):
            raise ValueError(
                f"UD actions must have shape {(self.num_envs, spec.n_uds, spec.ud_action_dim)}, "
                f"got {actions.ud.shape}"
            )
        if spec.es_agents and actions.es is None:
            raise ValueError("this environment has ES agents: the learner must return ES actions")
        out = []
        for e in range(self.num_envs):
            d = {a: actions.ud[e, n].astype(np.float32) for n, a in enumerate(self.ud_agents)}
            for m, agent in enumerate(self.es_agents):
                d[agent] = actions.es[e, m, : spec.z_max[m]].astype(np.int8)
            out.append(d)
        return out

    def step(self, actions: Actions) -> StepResult:
        raw, infos, ud_r, es_r, term, trunc, req, off, share, slots = ([] for _ in range(10))
        for env, act in zip(self.envs, self.action_dicts(actions), strict=True):
            obs, rew, te, tr, info = env.step(act)
            raw.append(obs)
            infos.append(info)
            ud_r.append([rew[a] for a in self.ud_agents])
            es_r.append([rew[a] for a in self.es_agents])
            term.append(any(te[a] for a in self.ud_agents))
            trunc.append(any(tr[a] for a in self.ud_agents))
            ud_info = [info[a] for a in self.ud_agents]
            req.append([bool(i["requested"]) for i in ud_info])
            off.append([bool(i["offloaded"]) for i in ud_info])
            share.append([i["penalty"] - i["cost"] for i in ud_info])
            ud0 = info[self.ud_agents[0]]
            slot = {k: float(ud0["slot_" + k]) for k in SLOT_METRICS}
            slot["delay_s"] = float(np.mean([i["delay_s"] for i in ud_info]))
            slot["energy_j"] = float(np.mean([i["energy_j"] for i in ud_info]))
            slots.append(slot)
        return StepResult(
            next_obs=self._observation(raw, infos),
            ud_reward=np.asarray(ud_r, dtype=np.float32),
            es_reward=np.asarray(es_r, dtype=np.float32) if self.es_agents else None,
            terminated=np.asarray(term),
            truncated=np.asarray(trunc),
            ud_requested=np.asarray(req),
            ud_offloaded=np.asarray(off),
            ud_share=np.asarray(share, dtype=np.float32),
            slot=slots,
        )

    def close(self) -> None:
        for env in self.envs:
            env.close()


class RolloutStore:
    """One on-policy iteration's steps: per-step dicts of (E, ...) arrays, stacked on demand
    into arrays of shape (T, E, ...) (T steps, E episodes side by side)."""

    def __init__(self) -> None:
        self.steps: list[dict[str, np.ndarray]] = []

    def add(self, fields: dict[str, np.ndarray]) -> None:
        self.steps.append({k: np.array(v, copy=True) for k, v in fields.items()})

    def __len__(self) -> int:
        return len(self.steps)

    def arrays(self) -> dict[str, np.ndarray]:
        if not self.steps:
            raise ValueError("the rollout is empty: no step was added")
        return {k: np.stack([step[k] for step in self.steps]) for k in self.steps[0]}


class EpisodeTracker:
    """Accumulates the per-episode metrics of every env copy (see EPISODE_METRICS)."""

    def __init__(self, num_envs: int) -> None:
        self.sums = [dict.fromkeys(EPISODE_METRICS, 0.0) for _ in range(num_envs)]
        self.slots = 0

    def add(self, result: StepResult) -> None:
        self.slots += 1
        for e, slot in enumerate(result.slot):
            s = self.sums[e]
            s["return"] += float(result.ud_reward[e].mean())
            s["cost"] += slot["mean_cost"]
            for key in EPISODE_METRICS[2:]:
                s[key] += slot[key]

    def episodes(self) -> list[dict[str, float]]:
        n = max(self.slots, 1)
        return [{k: (v if k == "return" else v / n) for k, v in s.items()} for s in self.sums]
