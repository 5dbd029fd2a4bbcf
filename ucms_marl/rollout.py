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

So :class:`VectorMECEnv` steps ``num_envs`` copies (all episodes have ``n_slots`` steps,
so the copies stay in lock step) through mec_env's batched core, the code every
``parallel_env`` runs on (docs/vector.md): one call per slot for all copies, arrays in and out
(``ud_obs``: ``(E, N, obs)``, ``es_obs``: ``(E, M, obs)`` zero-padded to the largest ES, the
state and the documented info fields), each episode seeded by the trainer. Its results are
those of the ParallelEnvs stepped one by one through the PettingZoo API, bit for bit;
:class:`PerEnvVectorMECEnv` is that previous rollout, kept for other PettingZoo environments
and as the reference (``tests/trainer/test_rollout_batched.py``).

Playing episodes on it (used by the trainer, ``ucms-eval`` and the benchmarks):
:func:`play_episodes` (one seeded episode per copy, every step to a replay buffer or a
:class:`RolloutStore`), :func:`evaluate` on the fixed evaluation seeds, :func:`mean_metrics`,
:func:`episode_seed`, :func:`eval_seeds` and :func:`make_vector_env`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import mec_env
from mec_env.policies import SlotView, slot_view
from ucms_marl.rollout_types import Actions, EnvSpec, Observation, StepResult

if TYPE_CHECKING:  # type hints only: importing the learners imports torch
    from ucms_marl.learners.base import Learner
    from ucms_marl.replay import ReplayBuffer

# the env's slot metrics (mec_env.SLOT_METRICS), each in every agent's info as "slot_" + name
SLOT_METRICS = mec_env.SLOT_METRICS
# episode metrics under mec/ (and eval/): slot metrics averaged over the slots of an episode,
# delay and energy averaged over UD-slots
EPISODE_METRICS = (
    "return", "cost", "delay_s", "energy_j", "timeout_rate", "participation_rate",
    "below_battery_rate", "offload_rate", "admission_cuts",
)  # fmt: skip


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


class _CopyView:
    """Copy b of the batched core seen as an environment, for what the trainer asks of an
    env copy itself: its config, agents, spaces (seeded for random warm-up actions) and
    state. Policies read :class:`~mec_env.policies.SlotView` (``Observation.slots``)."""

    def __init__(self, owner: VectorMECEnv, index: int) -> None:
        self._owner, self._index = owner, index
        self._spaces: Any = None
        template = owner._template
        self.config = template.config
        self.preset = template.preset
        self.n_uds, self.n_servers = template.n_uds, template.n_servers
        self.ud_agents = template.ud_agents
        self.es_agent_names = template.es_agent_names
        self.possible_agents = template.possible_agents

    @property
    def unwrapped(self) -> _CopyView:
        return self

    @property
    def agents(self) -> list[str]:
        core = self._owner._core
        playing = self._owner._started[self._index] and core.t[self._index] < self.config.n_slots
        return self.possible_agents[:] if playing else []

    def _space_env(self) -> Any:
        if self._spaces is None:  # spaces of this copy's own, as a ParallelEnv has them
            self._spaces = self._owner._make_env()
        return self._spaces

    def observation_space(self, agent: str) -> Any:
        return self._space_env().observation_space(agent)

    def action_space(self, agent: str) -> Any:
        return self._space_env().action_space(agent)

    def state(self) -> np.ndarray:
        return self._owner._state()[self._index]

    def close(self) -> None:
        """Nothing to release."""


class _Slots(Sequence):
    """Per-copy :class:`SlotView` of PettingZoo env copies, read when indexed (heuristics);
    an environment without mec_env's read-only slot state fails there, with the reason."""

    def __init__(self, envs: Sequence[Any]) -> None:
        self._envs = envs

    def __len__(self) -> int:
        return len(self._envs)

    def __getitem__(self, e: int) -> SlotView:
        return slot_view(self._envs[e])


class _CoreSlots(Sequence):
    """Per-copy :class:`SlotView` of the batched core's first ``k`` copies, read when indexed."""

    def __init__(self, owner: VectorMECEnv, k: int) -> None:
        self._owner, self._k = owner, k

    def __len__(self) -> int:
        return self._k

    def __getitem__(self, e: int) -> SlotView:
        if not -self._k <= e < self._k:
            raise IndexError(e)
        e %= self._k
        core, t = self._owner._core, self._owner._template
        return SlotView(
            config=t.config,
            current_slot=core.slot_state(e),
            server=core.server[e],
            members=core.members[e],
            agents=tuple(self._owner.envs[e].agents),
            ud_agents=tuple(t.ud_agents),
            es_agent_names=tuple(t.es_agent_names),
        )


class VectorMECEnv:
    """``num_envs`` copies of the MEC environment in lock step over mec_env's batched core
    (:func:`mec_env.vector_env`): one call steps every copy, nothing loops over agents.

    The results are those of ``num_envs`` ParallelEnvs stepped through the PettingZoo API
    (:class:`PerEnvVectorMECEnv`), bit for bit (``tests/trainer/test_rollout_batched.py``):
    the batched core and the ParallelEnv are the same code. ``make_env`` must build a
    ``mec_env.parallel_env``; its preset and config are used. Observations are stacked per
    group (``ud_obs``: ``(E, N, obs)``, ``es_obs``: ``(E, M, obs)`` zero-padded to the largest
    ES); ``Observation.slots`` are the copies' :class:`~mec_env.policies.SlotView`, built
    only when a heuristic policy reads them.
    """

    def __init__(
        self, make_env: Callable[[], Any], num_envs: int, *, kernels: str | None = None
    ) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        template = getattr(make_env(), "unwrapped", None)
        if not isinstance(template, mec_env.MECParallelEnv):
            raise TypeError(
                "VectorMECEnv needs make_env to build a mec_env.parallel_env; use "
                "PerEnvVectorMECEnv for other PettingZoo environments"
            )
        self._make_env = make_env
        self._template = template
        raw = {k: v for k, v in template.config.raw.items() if k != "render_mode"}
        self._vec = mec_env.MECVectorEnv(
            int(num_envs), template.preset, autoreset=False, kernels=kernels, **raw
        )
        self._core = self._vec.core
        self._active = int(num_envs)
        self._started = np.zeros(int(num_envs), dtype=bool)
        # shared by head() views: the last step's per-UD arrays and the last observation
        self._shared: dict[str, Any] = {"ud": None, "loads": None}
        self.ud_agents = list(template.ud_agents)
        self.es_agents = list(template.es_agent_names)
        self.envs = [_CopyView(self, b) for b in range(int(num_envs))]
        cfg = template.config
        es_dims = [int(np.prod(template.observation_space(a).shape)) for a in self.es_agents]
        self.spec = EnvSpec(
            n_uds=cfg.n_uds,
            n_servers=cfg.n_servers,
            ud_obs_dim=int(np.prod(template.observation_space(self.ud_agents[0]).shape)),
            state_dim=int(np.prod(template.state_space.shape)),
            es_agents=bool(self.es_agents),
            es_obs_dim=max(es_dims, default=0),
            z_max=tuple(int(z) for z in cfg.z_max) if self.es_agents else (),
        )
        # ES rows of the core (Z places, then loads) -> the ParallelEnv's (own places, loads)
        z = self._core.z_cap
        cols = [np.r_[0 : 6 * int(zm), 6 * z : 6 * z + 3] for zm in cfg.z_max]
        self._es_cols = cols if self.es_agents and len({c.size for c in cols}) > 1 else None

    @property
    def num_envs(self) -> int:
        return self._active

    def head(self, k: int) -> VectorMECEnv:
        """A view on the first ``k`` copies (for a last, partial batch of episodes)."""
        if not 1 <= k <= self.num_envs:
            raise ValueError(f"head({k}) of {self.num_envs} env copies")
        view = copy.copy(self)
        view._active = k
        view.envs = self.envs[:k]
        return view

    def _idx(self) -> np.ndarray | None:
        return None if self._active == self._core.num_envs else np.arange(self._active)

    def seed_action_spaces(self, seed: int) -> None:
        for i, env in enumerate(self.envs):
            for j, agent in enumerate(env.possible_agents):
                env.action_space(agent).seed(int(seed) + 1000 * i + j)

    # ---------------------------------------------------------------- stacking
    def _state(self) -> np.ndarray:
        k = self._active
        ud, loads = self._shared["ud"], self._shared["loads"]
        return np.concatenate(
            [ud[:k].reshape(k, -1), loads[:k].reshape(k, -1).astype(np.float32)], axis=1
        )

    def _observation(self) -> Observation:
        spec, k = self.spec, self._active
        ud, es, loads = self._core.observe(spec.es_agents)
        self._shared["ud"], self._shared["loads"] = ud, loads
        es_obs = members = None
        if spec.es_agents:
            members = self._core.members[:k].copy()
            if self._es_cols is None:
                es_obs = es[:k]
            else:
                es_obs = np.zeros((k, spec.n_servers, spec.es_obs_dim), dtype=np.float32)
                for m, cols in enumerate(self._es_cols):
                    es_obs[:, m, : cols.size] = es[:k, m, cols]
        return Observation(ud[:k], self._state(), es_obs, members, _CoreSlots(self, k))

    def reset(self, seeds: Sequence[int]) -> Observation:
        if len(seeds) != self.num_envs:
            raise ValueError(f"need one seed per env copy ({self.num_envs}), got {len(seeds)}")
        idx = self._idx()
        self._core.seed([int(s) for s in seeds], idx)
        self._core.reset(idx)
        self._started[: self._active] = True
        return self._observation()

    def action_dicts(self, actions: Actions) -> list[dict[str, np.ndarray]]:
        """The per-agent action dicts a ParallelEnv copy would be stepped with."""
        return PerEnvVectorMECEnv.action_dicts(self, actions)  # type: ignore[arg-type]

    def step(self, actions: Actions) -> StepResult:
        spec, k = self.spec, self._active
        if actions.ud.shape != (k, spec.n_uds, spec.ud_action_dim):
            raise ValueError(
                f"UD actions must have shape {(k, spec.n_uds, spec.ud_action_dim)}, "
                f"got {actions.ud.shape}"
            )
        if spec.es_agents and actions.es is None:
            raise ValueError("this environment has ES agents: the learner must return ES actions")
        # as PerEnvVectorMECEnv hands them to the env: UD actions as float32, ES bits as int8
        act = {"ud": actions.ud.astype(np.float32)}
        if spec.es_agents:
            act["es"] = actions.es.astype(np.int8)
        ud, es_bits = self._vec.check_actions(act, k)
        res = self._core.step(ud, es_bits, self._idx())
        out = res.out
        values = res.slot_values
        delay = out["delay_s"].mean(axis=1)
        energy = out["energy_j"].mean(axis=1)
        slots = []
        for e in range(k):
            slot = {name: float(values[e, j]) for j, name in enumerate(SLOT_METRICS)}
            slot["delay_s"] = float(delay[e])
            slot["energy_j"] = float(energy[e])
            slots.append(slot)
        es_reward = None
        if spec.es_agents:
            es_reward = np.repeat(res.es_reward[:, None], spec.n_servers, axis=1).astype(np.float32)
        return StepResult(
            next_obs=self._observation(),
            ud_reward=out["reward"].astype(np.float32),
            es_reward=es_reward,
            terminated=np.zeros(k, dtype=bool),
            truncated=res.truncated.copy(),
            ud_requested=out["requested"].copy(),
            ud_offloaded=out["offloaded"].copy(),
            ud_share=(out["penalty"] - out["cost"]).astype(np.float32),
            slot=slots,
        )

    def close(self) -> None:
        """Nothing to release."""


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


# ---------------------------------------------------------------------- playing episodes
def episode_seed(seed: int, episode: int, stream: int = 0) -> int:
    """The env reset seed of training episode ``episode`` (0-based) of run ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(stream), int(episode)]).generate_state(1)[0])


def eval_seeds(eval_seed: int, n: int) -> list[int]:
    """Evaluation episode j is reset with ``eval_seed + j``: the same set for every run."""
    return [int(eval_seed) + j for j in range(n)]


def make_vector_env(env_kwargs: Mapping[str, Any], num_envs: int) -> VectorMECEnv:
    """``num_envs`` copies of ``mec_env.parallel_env(**env_kwargs)`` (``preset`` included)."""
    kwargs = dict(env_kwargs)
    preset = kwargs.pop("preset")
    return VectorMECEnv(lambda: mec_env.parallel_env(preset=preset, **kwargs), num_envs)


def transition_fields(
    obs: Observation, actions: Actions, result: StepResult
) -> dict[str, np.ndarray]:
    """Every field a learner may store (see :class:`ucms_marl.learners.base.Learner`)."""
    nxt = result.next_obs
    fields = {
        "state": obs.state,
        "next_state": nxt.state,
        "ud_obs": obs.ud_obs,
        "next_ud_obs": nxt.ud_obs,
        "ud_action": actions.ud,
        "ud_reward": result.ud_reward,
        "terminated": result.terminated.astype(np.float32),
        "ud_requested": result.ud_requested,
        "ud_offloaded": result.ud_offloaded,
        "ud_share": result.ud_share,
    }
    if obs.es_obs is not None:
        fields.update(
            es_obs=obs.es_obs,
            next_es_obs=nxt.es_obs,
            es_action=actions.es,
            members=obs.members,
            next_members=nxt.members,
            es_reward=result.es_reward,
        )
    return fields


def play_episodes(
    envs: VectorMECEnv,
    learner: Learner,
    seeds: Sequence[int],
    *,
    explore: bool,
    replay: ReplayBuffer | None = None,
    rollout: RolloutStore | None = None,
) -> tuple[list[dict[str, float]], int]:
    """One episode in each of ``len(seeds)`` copies; returns per-episode metrics and steps.
    Every step goes to ``replay`` (off-policy) and/or ``rollout`` (on-policy, with the
    learner's ``Actions.extras``)."""
    envs = envs.head(len(seeds)) if len(seeds) < envs.num_envs else envs
    obs = envs.reset(seeds)
    tracker = EpisodeTracker(envs.num_envs)
    steps = 0
    while True:
        actions = learner.act(obs, explore=explore)
        result = envs.step(actions)
        if replay is not None:
            replay.add(transition_fields(obs, actions, result))
        if rollout is not None:
            rollout.add({**transition_fields(obs, actions, result), **(actions.extras or {})})
        tracker.add(result)
        steps += envs.num_envs
        obs = result.next_obs
        if np.all(result.terminated | result.truncated):
            return tracker.episodes(), steps


def evaluate(
    envs: VectorMECEnv, learner: Learner, n_episodes: int, eval_seed: int
) -> list[dict[str, float]]:
    """Noise-free episodes on the fixed evaluation seeds; per-episode metrics."""
    seeds = eval_seeds(eval_seed, n_episodes)
    episodes: list[dict[str, float]] = []
    for start in range(0, n_episodes, envs.num_envs):
        batch, _ = play_episodes(envs, learner, seeds[start : start + envs.num_envs], explore=False)
        episodes.extend(batch)
    return episodes


def mean_metrics(episodes: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """The mean of every :data:`EPISODE_METRICS` entry over ``episodes``."""
    return {k: float(np.mean([e[k] for e in episodes])) for k in EPISODE_METRICS}
