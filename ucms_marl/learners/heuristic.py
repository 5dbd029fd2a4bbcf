"""A mec_env reference policy as a (non-learning) learner.

The policy decides from what the rollout hands every learner: each env copy's
:class:`mec_env.policies.SlotView` (``Observation.slots``: the tasks, gains, batteries,
matching and ES places of the slot about to be played), never from the env object. One
policy per copy position, made on first use and bound to no environment (``make_policy(name,
config=...)``); its ``env_overrides`` are the policy's registration metadata (e.g. ``greedy``
wants ``es_agents=False, admission=saving_first``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ucms_marl.learners.base import LEARNERS, Learner
from ucms_marl.rollout_types import Actions, Observation


def _policies_module():
    try:
        from mec_env import policies
    except ImportError as exc:  # pragma: no cover - only if mec_env lacks its policies
        raise ImportError("learner=heuristic needs mec_env.policies") from exc
    return policies


@LEARNERS.register("heuristic")
class HeuristicLearner(Learner):
    is_learning = False

    def __init__(self, cfg: Any, spec, *, device, seed: int) -> None:
        super().__init__(cfg, spec, device=device, seed=seed)
        self._check_name(cfg.policy)
        self.policy_name = str(cfg.policy)
        self._policies: list[Any] = []  # one per env copy position, made on first use

    @staticmethod
    def _check_name(name: str) -> None:
        from mec_env.registry import UnknownNameError

        policies = _policies_module().POLICIES
        try:
            policies.get(name)
        except UnknownNameError:
            raise ValueError(
                f"learner.policy={name!r} is not a mec_env policy; choose one of "
                f"{policies.available()}"
            ) from None

    @classmethod
    def env_overrides(cls, cfg: Any, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        cls._check_name(cfg.policy)
        return dict(_policies_module().env_overrides_for(cfg.policy))

    def act(self, obs: Observation, *, explore: bool) -> Actions:
        if not len(obs.slots):
            raise ValueError(
                "learner=heuristic decides from each env copy's SlotView (Observation.slots), "
                "which this rollout does not provide"
            )
        make_policy = _policies_module().make_policy
        while len(self._policies) < len(obs.slots):  # copy i's policy seeded seed * 1009 + i
            config = obs.slots[len(self._policies)].config
            seed = self.seed * 1009 + len(self._policies)
            self._policies.append(make_policy(self.policy_name, config=config, seed=seed))
        dicts = [p.act(view) for p, view in zip(self._policies, obs.slots, strict=False)]
        return _stack_actions(dicts, obs)

    def hparams(self) -> dict[str, Any]:
        return {"policy": self.policy_name}


def _stack_actions(dicts: list[Mapping[str, np.ndarray]], obs: Observation) -> Actions:
    n_uds = obs.ud_obs.shape[1]
    ud = np.stack(
        [np.stack([np.asarray(d[f"ud_{i}"], np.float32) for i in range(n_uds)]) for d in dicts]
    )
    es = None
    if obs.members is not None:
        es = np.zeros(obs.members.shape, dtype=np.int8)
        for e, d in enumerate(dicts):
            for m in range(obs.members.shape[1]):
                bits = np.asarray(d[f"es_{m}"]).ravel()
                es[e, m, : bits.size] = bits
    return Actions(ud, es)
