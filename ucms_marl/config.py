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
    learner:  the learner's schema, e.g. MADDPGConfig (ucms_marl.learners.maddpg)
              (group ``learner/``; ucms extends maddpg, ippo and the *_paper files are
              variants that change some keys of another option)
    replay:   UniformReplayConfig | RewardTDPriorityReplayConfig   (group ``replay/``)

The env group's keys are mec_env's own (:data:`ENV_KEYS`, from its presets); mec_env
validates their values when the env is built, before anything runs.

A learner's schema lives in its module under ``ucms_marl/learners/`` and comes with its
registration (``LEARNERS.register(name, schema=...)``); :func:`register_configs` stores the
schema of every registered learner as ``learner/<name>_schema``, the first default of
``learner/<name>.yaml`` (or the second, after the option it extends, as in
``learner/ucms.yaml``).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field, make_dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from omegaconf import MISSING, OmegaConf

from mec_env.config import DEFAULT_PRESET, PRESETS
from mec_env.registry import Registry
from ucms_marl.learners import LEARNERS
from ucms_marl.paths import settings_suffix

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
    updates_per_step: float = MISSING
    learning_starts: int = MISSING
    checkpoint_every: int = MISSING
    save_replay: bool = MISSING
    resume: Any = MISSING  # true, false or "auto" (checked by ucms_marl.train.validate)
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


HELP_INDENT = 19  # the column where config.yaml's help template starts each option list


def group_options(group: str) -> str:
    """The options of config group ``group`` that Hydra finds: the YAML files of every config
    directory on the search path (``--config-dir`` included) and the ConfigStore's entries
    other than schemas, wrapped for ``ucms-train --help`` (``${group_options:algo}`` in
    config.yaml's help template), so a new option file is listed without editing it."""
    options = GlobalHydra.instance().config_loader().get_group_options(group)
    text = ", ".join(name for name in options if not name.endswith("_schema"))
    indent = " " * HELP_INDENT
    return textwrap.fill(text, width=97, initial_indent=indent, subsequent_indent=indent).lstrip()


def register_configs() -> None:
    """Store every schema in Hydra's ConfigStore (the trainer's, the replays' and those of
    the learners registered by now), and the resolvers the YAML files use (idempotent)."""
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)
    # `${is_null:${admission}}`: algo/ucms_maddpg.yaml turns ES agents off when a rule is named
    if not OmegaConf.has_resolver("is_null"):
        OmegaConf.register_new_resolver("is_null", lambda value: value is None)
    # `${group_options:algo}`: the option lists of config.yaml's help template
    if not OmegaConf.has_resolver("group_options"):
        OmegaConf.register_new_resolver("group_options", group_options)
    # `${settings_suffix:${hydra:overrides.task}}`: config.yaml's run folder names env overrides
    if not OmegaConf.has_resolver("settings_suffix"):
        OmegaConf.register_new_resolver("settings_suffix", settings_suffix)
    for name in LEARNERS.names():  # each learner's schema comes with its registration
        schema = LEARNERS.metadata(name).get("schema")
        if schema is not None:
            register_schema("learner", name, schema)
    register_schema("replay", "uniform", UniformReplayConfig)
    register_schema("replay", "reward_td_priority", RewardTDPriorityReplayConfig)


register_configs()
