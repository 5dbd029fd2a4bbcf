"""A mec_env reference policy as a (non-learning) learner.

The policy decides from what the rollout hands every learner: each env copy's
:class:`mec_env.policies.SlotView` (``Observation.slots``: the tasks, gains, batteries,
matching and ES places of the slot about to be played), never from the env object. One
policy per copy position, made on first use and bound to no environment (``make_policy(name,
config=...)``); its ``env_overrides`` are the policy's registration metadata (e.g. ``greedy``
wants ``es_agents=False, admission=saving_first``). ``learner.params`` (a mapping, default
empty) goes to the policy's class as keywords, e.g. ``learner.params.v=3`` sets V of
``drift_plus_penalty`` (``algo=drift_plus_penalty`` lists its keys with their defaults).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from omegaconf import MISSING, OmegaConf

from mec_env.policies import POLICIES, env_overrides_for, make_policy
from mec_env.registry import UnknownNameError
from ucms_marl.learners.base import LEARNERS, Algorithm, Learner
from ucms_marl.rollout_types import Actions, Observation


@dataclass
class HeuristicConfig:
    """The keys of ``learner/heuristic.yaml``: the learner's name, the policy it runs and the
    keywords ``params`` its class takes (``make_policy(policy, ..., **params)``)."""

    name: str = MISSING
    policy: str = MISSING
    params: dict[str, Any] = field(default_factory=dict)


@LEARNERS.register(
    "heuristic",
    schema=HeuristicConfig,
    algorithms={  # the reference lines of the figures: greys and black, dashed
        "greedy": Algorithm("greedy (reference)", "#000000", "--"),
        "all_local": Algorithm("all local (reference)", "#7f7f7f", ":"),
        "all_offload": Algorithm("all offload (reference)", "#8c564b", "-."),
        "random": Algorithm("random (reference)", "#e377c2", (0, (1, 3))),
        "oracle": Algorithm("per-slot oracle", "#bcbd22", (0, (5, 1))),
        "drift_plus_penalty": Algorithm(
            "drift-plus-penalty (reference)", "#393b79", (0, (3, 1, 1, 1))
        ),
        "best_split": Algorithm("best split (reference)", "#17becf", (0, (1, 1))),
    },
)
class HeuristicLearner(Learner):
    is_learning = False

    def __init__(self, cfg: Any, spec, *, device, seed: int) -> None:
        super().__init__(cfg, spec, device=device, seed=seed)
        self._check_name(cfg.policy)
        self.policy_name = str(cfg.policy)
        self.params = _params(cfg)
        self._policies: list[Any] = []  # one per env copy position, made on first use

    @staticmethod
    def _check_name(name: str) -> None:
        try:
            POLICIES.get(name)
        except UnknownNameError:
            raise ValueError(
                f"learner.policy={name!r} is not a mec_env policy; choose one of "
                f"{POLICIES.available()}"
            ) from None

    @classmethod
    def env_overrides(cls, cfg: Any, env_kwargs: Mapping[str, Any]) -> dict[str, Any]:
        cls._check_name(cfg.policy)
        return dict(env_overrides_for(cfg.policy))

    def act(self, obs: Observation, *, explore: bool) -> Actions:
        if not len(obs.slots):
            raise ValueError(
                "learner=heuristic decides from each env copy's SlotView (Observation.slots), "
                "which this rollout does not provide"
            )
        while len(self._policies) < len(obs.slots):  # copy i's policy seeded seed * 1009 + i
            config = obs.slots[len(self._policies)].config
            seed = self.seed * 1009 + len(self._policies)
            self._policies.append(
                make_policy(self.policy_name, config=config, seed=seed, **self.params)
            )
        dicts = [p.act(view) for p, view in zip(self._policies, obs.slots, strict=False)]
        return _stack_actions(dicts, obs)

    def hparams(self) -> dict[str, Any]:
        return {"policy": self.policy_name, **self.params}


def _params(cfg: Any) -> dict[str, Any]:
    """``cfg.params`` as a plain dict (``{}`` when absent, e.g. in an older run's config)."""
    params = cfg.get("params", None)
    if params is None:
        return {}
    if OmegaConf.is_config(params):
        params = OmegaConf.to_container(params, resolve=True)
    return dict(params)


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
