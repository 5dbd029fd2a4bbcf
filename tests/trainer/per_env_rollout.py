"""The trainer's previous rollout: ``num_envs`` PettingZoo ParallelEnvs stepped one after the
other through the PettingZoo API, moved here from ``ucms_marl.rollout`` (only the tests used
it). It is the reference the batched :class:`ucms_marl.rollout.VectorMECEnv` is tested against
(``tests/trainer/test_rollout_batched.py``), and works with any PettingZoo environment with
mec_env's agents."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from mec_env.policies import SlotView, slot_view
from ucms_marl.rollout import SLOT_METRICS
from ucms_marl.rollout_types import Actions, EnvSpec, Observation, StepResult


class PerEnvVectorMECEnv:
    """``num_envs`` ParallelEnvs stepped one after the other through the PettingZoo API (the
    trainer's previous rollout; kept for any PettingZoo env with mec_env's agents and as the
    reference the batched :class:`VectorMECEnv` is tested against)."""

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

    def head(self, k: int) -> PerEnvVectorMECEnv:
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
            ud_obs.astype(np.float32, copy=False), state, es_obs, members, _Slots(self.envs)
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


class _Slots(Sequence):
    """Per-copy :class:`SlotView` of PettingZoo env copies, read when indexed (heuristics);
    an environment without mec_env's read-only slot state fails there, with the reason."""

    def __init__(self, envs: Sequence[Any]) -> None:
        self._envs = envs

    def __len__(self) -> int:
        return len(self._envs)

    def __getitem__(self, e: int) -> SlotView:
        return slot_view(self._envs[e])
