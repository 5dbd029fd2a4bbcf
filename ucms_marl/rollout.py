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
so the copies stay in lock step) through :func:`mec_env.vector_env`'s public API, over the
batched core every ``parallel_env`` runs on (docs/vector.md): one call per slot for all
copies, arrays in and out (``ud_obs``: ``(E, N, obs)``, ``es_obs``: ``(E, M, obs)``
zero-padded to the largest ES, the state and the documented info fields), each episode seeded
by the trainer. Its results are those of the ParallelEnvs stepped one by one through the
PettingZoo API, bit for bit (``tests/trainer/test_rollout_batched.py``, against that previous
rollout, now ``tests/trainer/per_env_rollout.py``).

Playing episodes on it (used by the trainer, ``ucms-eval`` and the benchmarks):
:func:`play_episodes` (one seeded episode per copy, every step to a replay buffer or a
:class:`RolloutStore`), :func:`evaluate` on the fixed evaluation seeds, :func:`mean_metrics`,
:func:`episode_seed`, :func:`eval_seeds` and :func:`make_vector_env`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

import mec_env
from mec_env.policies import SlotView
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


class _CopyView:
    """Copy b of the vector env seen as an environment, for what the trainer asks of an env
    copy itself: its config, agents, spaces (seeded for random warm-up actions) and state.
    Policies read :class:`~mec_env.policies.SlotView` (``Observation.slots``)."""

    def __init__(self, owner: VectorMECEnv, index: int) -> None:
        self._owner, self._index = owner, index
        self._spaces: Any = None
        vec = owner._vec
        self.config = vec.config
        self.preset = vec.preset
        self.n_uds, self.n_servers = vec.n_uds, vec.n_servers
        self.ud_agents = vec.ud_agents
        self.es_agent_names = vec.es_agent_names
        self.possible_agents = vec.mec_spec.possible_agents

    @property
    def unwrapped(self) -> _CopyView:
        return self

    @property
    def agents(self) -> list[str]:
        playing = self._owner._started[self._index] and self._owner._vec.playing[self._index]
        return self.possible_agents[:] if playing else []

    def _agent_spaces(self) -> Any:
        if self._spaces is None:  # this copy's own spaces, as a ParallelEnv holds them
            self._spaces = self._owner._vec.mec_spec.agent_spaces()
        return self._spaces

    def observation_space(self, agent: str) -> Any:
        return self._agent_spaces()[0][agent]

    def action_space(self, agent: str) -> Any:
        return self._agent_spaces()[1][agent]

    def state(self) -> np.ndarray:
        return self._owner._vec.state()[self._index]

    def close(self) -> None:
        """Nothing to release."""


class _CopySlots(Sequence):
    """Per-copy :class:`SlotView` of the vector env's first ``k`` copies, read when indexed."""

    def __init__(self, owner: VectorMECEnv, k: int) -> None:
        self._owner, self._k = owner, k

    def __len__(self) -> int:
        return self._k

    def __getitem__(self, e: int) -> SlotView:
        if not -self._k <= e < self._k:
            raise IndexError(e)
        e %= self._k
        view = self._owner._vec.slot_view(e)
        return replace(view, agents=tuple(self._owner.envs[e].agents))


class VectorMECEnv:
    """``num_envs`` copies of the MEC environment in lock step over :func:`mec_env.vector_env`
    (its public API only): one call steps every copy, nothing loops over agents.

    The results are those of ``num_envs`` ParallelEnvs stepped through the PettingZoo API, bit
    for bit (``tests/trainer/test_rollout_batched.py`` checks it against that rollout,
    ``tests/trainer/per_env_rollout.py``). ``make_env`` must build a ``mec_env.parallel_env``;
    its preset and config are used (:func:`make_vector_env` builds the vector env directly:
    one config and one core). Observations are stacked per group (``ud_obs``: ``(E, N,
    obs)``, ``es_obs``: ``(E, M, obs)`` zero-padded to the largest ES); ``Observation.slots``
    are the copies' :class:`~mec_env.policies.SlotView`, built only when a heuristic policy
    reads them.
    """

    def __init__(
        self, make_env: Callable[[], Any], num_envs: int, *, kernels: str | None = None
    ) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        template = getattr(make_env(), "unwrapped", None)
        if not isinstance(template, mec_env.MECParallelEnv):
            raise TypeError(
                "VectorMECEnv needs make_env to build a mec_env.parallel_env; for other "
                "PettingZoo environments see PerEnvVectorMECEnv in tests/trainer/per_env_rollout.py"
            )
        raw = {k: v for k, v in template.config.raw.items() if k != "render_mode"}
        vec = mec_env.vector_env(
            int(num_envs), template.preset, autoreset=False, kernels=kernels, **raw
        )
        self._setup(vec)

    @classmethod
    def from_vector_env(cls, vec: mec_env.MECVectorEnv) -> VectorMECEnv:
        """The trainer's view of ``vec`` (made with ``autoreset=False``)."""
        if vec.autoreset:
            raise ValueError("VectorMECEnv needs a vector_env(..., autoreset=False)")
        self = cls.__new__(cls)
        self._setup(vec)
        return self

    def _setup(self, vec: mec_env.MECVectorEnv) -> None:
        self._vec = vec
        b = vec.num_envs
        self._active = b
        self._started = np.zeros(b, dtype=bool)
        self.ud_agents = list(vec.ud_agents)
        self.es_agents = list(vec.es_agent_names)
        self.envs = [_CopyView(self, i) for i in range(b)]
        spec = vec.mec_spec
        self.spec = EnvSpec(
            n_uds=spec.n_uds,
            n_servers=spec.n_servers,
            ud_obs_dim=int(spec.ud_high.size),
            state_dim=int(np.prod(spec.state_space.shape)),
            es_agents=spec.es_agents,
            es_obs_dim=max((h.size for h in spec.es_obs_highs), default=0) if spec.es_agents else 0,
            z_max=spec.z_max if spec.es_agents else (),
        )
        # ES rows of the vector env (Z places, then loads) -> each ES's own (places, loads)
        self._es_cols = spec.es_columns if spec.es_agents else None

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

    def seed_action_spaces(self, seed: int) -> None:
        for i, env in enumerate(self.envs):
            for j, agent in enumerate(env.possible_agents):
                env.action_space(agent).seed(int(seed) + 1000 * i + j)

    # ---------------------------------------------------------------- stacking
    def _observation(self, obs: Mapping[str, np.ndarray], members: np.ndarray | None):
        """The trainer's :class:`Observation` of the first k copies from the vector env's
        arrays (``obs`` and ``members`` with at least k rows)."""
        spec, k = self.spec, self._active
        es_obs = None
        if spec.es_agents:
            es = obs["es"]
            if self._es_cols is None:
                es_obs = es[:k]
            else:
                es_obs = np.zeros((k, spec.n_servers, spec.es_obs_dim), dtype=np.float32)
                for m, cols in enumerate(self._es_cols):
                    es_obs[:, m, : cols.size] = es[:k, m, cols]
            members = members[:k]
        state = self._vec.state()[:k]
        return Observation(obs["ud"][:k], state, es_obs, members, _CopySlots(self, k))

    def reset(self, seeds: Sequence[int]) -> Observation:
        if len(seeds) != self.num_envs:
            raise ValueError(f"need one seed per env copy ({self.num_envs}), got {len(seeds)}")
        vec, k = self._vec, self._active
        seeds = [int(s) for s in seeds]
        if k == vec.num_envs or not self._started.any():
            # every copy (the waiting ones, on a first reset, from fresh generators)
            obs, infos = vec.reset(seed=seeds + [None] * (vec.num_envs - k))
        else:
            mask = np.arange(vec.num_envs) < k
            obs, infos = vec.reset(seed=seeds, options={"reset_mask": mask})
        self._started[:k] = True
        return self._observation(obs, infos.get("members"))

    def action_dicts(self, actions: Actions) -> list[dict[str, np.ndarray]]:
        """The per-agent action dicts a ParallelEnv copy would be stepped with."""
        spec = self.spec
        out = []
        for e in range(self.num_envs):
            d = {a: actions.ud[e, n].astype(np.float32) for n, a in enumerate(self.ud_agents)}
            for m, agent in enumerate(self.es_agents):
                d[agent] = actions.es[e, m, : spec.z_max[m]].astype(np.int8)
            out.append(d)
        return out

    def step(self, actions: Actions) -> StepResult:
        spec, k = self.spec, self._active
        if actions.ud.shape != (k, spec.n_uds, spec.ud_action_dim):
            raise ValueError(
                f"UD actions must have shape {(k, spec.n_uds, spec.ud_action_dim)}, "
                f"got {actions.ud.shape}"
            )
        if spec.es_agents and actions.es is None:
            raise ValueError("this environment has ES agents: the learner must return ES actions")
        # as a ParallelEnv copy is handed them: UD actions as float32, ES bits as int8
        act = {"ud": actions.ud.astype(np.float32)}
        if spec.es_agents:
            act["es"] = actions.es.astype(np.int8)
        obs, rewards, terminated, truncated, infos = self._vec.step_copies(act, np.arange(k))
        delay = infos["delay_s"].mean(axis=1)
        energy = infos["energy_j"].mean(axis=1)
        metrics = [infos[f"slot_{name}"] for name in SLOT_METRICS]
        slots = []
        for e in range(k):
            slot = {name: float(v[e]) for name, v in zip(SLOT_METRICS, metrics, strict=True)}
            slot["delay_s"] = float(delay[e])
            slot["energy_j"] = float(energy[e])
            slots.append(slot)
        es_reward = rewards["es"].astype(np.float32) if spec.es_agents else None
        return StepResult(
            next_obs=self._observation(obs, infos.get("members")),
            ud_reward=rewards["ud"].astype(np.float32),
            es_reward=es_reward,
            terminated=terminated,
            truncated=truncated.copy(),
            ud_requested=infos["requested"].copy(),
            ud_offloaded=infos["offloaded"].copy(),
            ud_share=(infos["penalty"] - infos["cost"]).astype(np.float32),
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
    """``num_envs`` copies of ``mec_env.parallel_env(**env_kwargs)`` (``preset`` included):
    one :func:`mec_env.vector_env` (one config, one core)."""
    kwargs = {k: v for k, v in env_kwargs.items() if k != "render_mode"}
    preset = kwargs.pop("preset")
    vec = mec_env.vector_env(int(num_envs), preset, autoreset=False, **kwargs)
    return VectorMECEnv.from_vector_env(vec)


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
