"""A mec_env reference policy as a (non-learning) learner.

``mec_env.policies.make_policy(name, env, seed)`` binds a policy to one environment (it reads
that env's current slot), so this learner keeps one policy per env copy it is asked to act
in, created on first use. Its ``env_overrides`` are the policy's own (e.g. ``greedy`` wants
``es_agents=False, admission=saving_first``), read from a policy bound to a probe env.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import mec_env
from ucms_marl.learners.base import LEARNERS, Learner
from ucms_marl.rollout import Actions, Observation


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
        self._policies: dict[int, Any] = {}  # id(env) -> policy bound to that env
        self._envs: list[Any] = []  # keep bound envs alive so their ids stay unique

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
        kwargs = dict(env_kwargs)
        preset = kwargs.pop("preset")
        probe = mec_env.parallel_env(preset=preset, **kwargs)
        return dict(_policies_module().make_policy(cfg.policy, probe, seed=0).env_overrides)

    def _policy_for(self, env: Any) -> Any:
        key = id(env)
        if key not in self._policies:
            seed = self.seed * 1009 + len(self._policies)
            self._policies[key] = _policies_module().make_policy(self.policy_name, env, seed=seed)
            self._envs.append(env)
        return self._policies[key]

    def act(self, obs: Observation, *, explore: bool) -> Actions:
        dicts = [self._policy_for(env)(raw) for env, raw in zip(obs.envs, obs.raw, strict=True)]
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
