"""Typed config schemas, registered in Hydra's ConfigStore.

BenchMARL's habit: each dataclass here types the keys of a YAML file under ``ucms_marl/conf``
and leaves their values ``MISSING``; the YAML files write each value once. Hydra validates
types when it merges a YAML file onto its schema, so ``episodes=ten`` or
``learner.lr_actor=fast`` fail before anything runs; ``tests/trainer/test_config.py`` checks
that every composed option has exactly its schema's keys, all set (and that every YAML key
carries a comment).

Layout of the composed config::

    seed, device, episodes, eval_*, num_envs, ...   trainer keys (TrainConfig, config.yaml)
    matcher, admission, es_agents                   the algorithm's env-side parts
    env:      EnvGroupConfig                        mec_env preset + overrides (env/)
    learner:  MADDPGConfig | UCMSConfig | HeuristicConfig | MAPPOConfig
              (group ``learner/``; ucms extends maddpg, ippo and the *_paper files are
              variants that change some keys of another option)
    replay:   UniformReplayConfig | RewardTDPriorityReplayConfig   (group ``replay/``)

The env group's keys are mec_env's own (:data:`ENV_KEYS`, from its presets); mec_env
validates their values when the env is built, before anything runs.

A new learner adds a dataclass with a ``name`` field, registers it with
``register_schema("learner", "<name>", MyConfig)`` and a YAML file ``learner/<name>.yaml``
whose defaults list starts with ``<name>_schema`` (or with the option it extends, then its
schema, as ``learner/ucms.yaml`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from mec_env.config import DEFAULT_PRESET, PRESETS
from mec_env.registry import Registry

# The env group is mec_env's own config (mec_env/config.py, docs/environment.md), read from it
# rather than copied: every key of a preset except the algorithm-side keys (matcher, admission,
# es_agents: top-level, so an algo file composes them with a learner) and the two the trainer
# does not expose (es_action_space, render_mode).
ALGO_ENV_KEYS = ("matcher", "admission", "es_agents")
_NOT_EXPOSED = (*ALGO_ENV_KEYS, "es_action_space", "render_mode")
ENV_KEYS = tuple(k for k in PRESETS[DEFAULT_PRESET] if k not in _NOT_EXPOSED)


def _env_key_type(value: Any) -> Any:
    """The schema type of an env key, from its value in the default preset. Numbers are left
    untyped: a per-server key takes one value or one per ES, and mec_env's validation names
    the key and what is allowed (``ucms-train: error: config key 'n_uds' got ...``)."""
    if isinstance(value, bool):
        return bool | None
    if isinstance(value, list):
        return list[float] | None
    return Any


# A mec_env preset plus overrides; ``None`` keeps the preset's value.
EnvGroupConfig = make_dataclass(
    "EnvGroupConfig",
    [("preset", str, field(default=DEFAULT_PRESET))]
    + [(k, _env_key_type(PRESETS[DEFAULT_PRESET][k]), field(default=None)) for k in ENV_KEYS],
)
EnvGroupConfig.__module__ = __name__


@dataclass
class MADDPGConfig:
    name: str = MISSING
    actor_hidden: list[int] = MISSING
    critic_hidden: list[int] = MISSING
    lr_actor: float = MISSING
    lr_critic: float = MISSING
    gamma: float = MISSING
    tau: float = MISSING
    batch_size: int = MISSING
    share_params: bool = MISSING
    noise_std: float = MISSING
    noise_std_min: float = MISSING
    noise_decay: float = MISSING
    max_grad_norm: float | None = MISSING
    critic: str = MISSING
    offload_decision: str = MISSING
    gumbel_temperature: float = MISSING
    reward_scale: float = MISSING
    action_reg: float = MISSING
    twin_critics: bool = MISSING


@dataclass
class UCMSConfig(MADDPGConfig):
    """UCMS_MADDPG (``ucms_marl.learners.ucms``): the MADDPG UD learners plus the ES Q-network."""

    es_hidden: list[int] = MISSING
    lr_es: float = MISSING
    es_epsilon: float = MISSING
    es_epsilon_min: float = MISSING
    es_epsilon_decay: float = MISSING
    es_warmup_episodes: int = MISSING
    ud_critic_target: str = MISSING


@dataclass
class HeuristicConfig:
    name: str = MISSING
    policy: str = MISSING


@dataclass
class MAPPOConfig:
    """MAPPO (``ucms_marl.learners.ppo``): on-policy PPO, one UD actor shared by all UDs with a
    Bernoulli offload decision and Beta (f, p); centralised values; a learned ES head when
    the env has ES agents. ``learner/mappo.yaml`` documents every key."""

    name: str = MISSING
    centralised_value: bool = MISSING
    agent_id: bool = MISSING
    actor_hidden: list[int] = MISSING
    critic_hidden: list[int] = MISSING
    es_hidden: list[int] = MISSING
    activation: str = MISSING
    continuous_dist: str = MISSING
    log_std_init: float = MISSING
    lr_actor: float = MISSING
    lr_critic: float = MISSING
    gamma: float = MISSING
    gae_lambda: float = MISSING
    clip_ratio: float = MISSING
    entropy_coef: float = MISSING
    value_clip: float | None = MISSING
    normalize_advantages: bool = MISSING
    normalize_values: bool = MISSING
    reward_scale: float = MISSING
    ud_reward: str = MISSING
    ppo_epochs: int = MISSING
    num_minibatches: int = MISSING
    max_grad_norm: float | None = MISSING
    rollout_episodes: int = MISSING


@dataclass
class UniformReplayConfig:
    name: str = MISSING
    capacity: int = MISSING


@dataclass
class RewardTDPriorityReplayConfig:
    name: str = MISSING
    capacity: int = MISSING
    upsilon_r: float = MISSING
    epsilon: float = MISSING
    alpha: float = MISSING
    loss_weight: str = MISSING


@dataclass
class TrainConfig:
    seed: int = MISSING
    device: str = MISSING
    episodes: int = MISSING
    eval_every: int = MISSING
    eval_episodes: int = MISSING
    eval_seed: int = MISSING
    num_envs: int = MISSING
    updates_per_episode: int = MISSING
    learning_starts: int = MISSING
    checkpoint_every: int = MISSING
    save_replay: bool = MISSING
    resume: bool = MISSING
    progress_bar: bool = MISSING
    references: bool = MISSING
    torch_threads: int = MISSING
    run_root: str = MISSING
    matcher: str | None = MISSING
    admission: str | None = MISSING
    es_agents: bool | None = MISSING
    env: EnvGroupConfig = field(default_factory=EnvGroupConfig)
    learner: Any = MISSING
    replay: Any = MISSING


# schema for each option of the learner/ and replay/ groups, one registry per group (the
# YAML/dataclass agreement test checks every YAML file in those groups against it)
GROUP_SCHEMAS: dict[str, Registry[type]] = {
    "learner": Registry("learner config schema"),
    "replay": Registry("replay config schema"),
}


def register_schema(group: str, name: str, node: type) -> None:
    """Register ``node`` in ``GROUP_SCHEMAS[group]`` and store it in Hydra's ConfigStore as
    ``<group>/<name>_schema``, the first default of ``<group>/<name>.yaml`` (idempotent: a
    second call replaces the first)."""
    if group not in GROUP_SCHEMAS:
        raise ValueError(f"group must be one of {list(GROUP_SCHEMAS)}, got {group!r}")
    GROUP_SCHEMAS[group].register(name, node, overwrite=True)
    ConfigStore.instance().store(group=group, name=f"{name}_schema", node=node)


def register_configs() -> None:
    """Store every schema in Hydra's ConfigStore, and the resolvers the YAML files use
    (idempotent)."""
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)
    # `${is_null:${admission}}`: algo/ucms_maddpg.yaml turns ES agents off when a rule is named
    if not OmegaConf.has_resolver("is_null"):
        OmegaConf.register_new_resolver("is_null", lambda value: value is None)
    register_schema("learner", "maddpg", MADDPGConfig)
    register_schema("learner", "ucms", UCMSConfig)
    register_schema("learner", "heuristic", HeuristicConfig)
    register_schema("learner", "mappo", MAPPOConfig)
    register_schema("learner", "ippo", MAPPOConfig)  # learner/ippo.yaml: a variant of mappo
    register_schema("replay", "uniform", UniformReplayConfig)
    register_schema("replay", "reward_td_priority", RewardTDPriorityReplayConfig)


register_configs()
