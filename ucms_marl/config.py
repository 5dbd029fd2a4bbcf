"""Typed config schemas, registered in Hydra's ConfigStore.

BenchMARL's habit: every YAML file under ``ucms_marl/conf`` has a dataclass here, and
``tests/trainer/test_config.py`` checks that both list the same keys (and that every YAML key
carries a comment). Hydra validates types when it merges a YAML file onto its schema, so
``episodes=ten`` or ``learner.lr_actor=fast`` fail before anything runs.

Layout of the composed config::

    seed, device, episodes, eval_*, num_envs, ...   trainer keys (TrainConfig)
    matcher, admission, es_agents                   the algorithm's env-side parts
    env:      EnvConfig                             mec_env preset + overrides
    learner:  MADDPGConfig | UCMSConfig | HeuristicConfig | MAPPOConfig | IPPOConfig
              (group ``learner/``)
    replay:   UniformReplayConfig | RewardTDPriorityReplayConfig   (group ``replay/``)

A new learner adds a dataclass with a ``name`` field, registers it with
``register_schema("learner", "<name>", MyConfig)`` and a YAML file ``learner/<name>.yaml``
whose defaults list starts with ``<name>_schema``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

# mec_env config keys of the environment group (docs/environment.md). The algorithm-side keys
# (matcher, admission, es_agents) are top-level so an algo file composes them with a learner.
ENV_KEYS = (
    "n_servers", "n_uds", "n_slots", "task_bytes", "cycles_per_bit", "deadline_s",
    "f_local_hz", "p_tx_dbm", "battery_j", "harvest_mean_j", "z_max", "subchannels",
    "n_cpus", "storage_bytes", "f_server_hz", "gain_db", "kappa", "bandwidth_hz",
    "rho_delay", "rho_energy", "normalize_obs", "clip_actions",
)  # fmt: skip


@dataclass
class EnvConfig:
    """A mec_env preset plus overrides; ``None`` keeps the preset's value."""

    preset: str = "paper_kb"
    n_servers: int | None = None
    n_uds: int | None = None
    n_slots: int | None = None
    task_bytes: list[float] | None = None
    cycles_per_bit: list[float] | None = None
    deadline_s: list[float] | None = None
    f_local_hz: list[float] | None = None
    p_tx_dbm: list[float] | None = None
    battery_j: list[float] | None = None
    harvest_mean_j: float | None = None
    z_max: Any = None  # int or one per server
    subchannels: Any = None
    n_cpus: Any = None
    storage_bytes: Any = None
    f_server_hz: Any = None
    gain_db: list[float] | None = None
    kappa: float | None = None
    bandwidth_hz: float | None = None
    rho_delay: float | None = None
    rho_energy: float | None = None
    normalize_obs: bool | None = None
    clip_actions: bool | None = None


@dataclass
class MADDPGConfig:
    name: str = "maddpg"
    actor_hidden: list[int] = field(default_factory=lambda: [256, 256])
    critic_hidden: list[int] = field(default_factory=lambda: [256, 256])
    lr_actor: float = 3e-4
    lr_critic: float = 1e-3
    gamma: float = 0.99
    tau: float = 0.01
    batch_size: int = 64
    share_params: bool = True
    noise_std: float = 0.3
    noise_std_min: float = 0.05
    noise_decay: float = 0.998
    max_grad_norm: float | None = None
    critic: str = "team"
    offload_decision: str = "relaxed"
    gumbel_temperature: float = 1.0
    reward_scale: float = 1.0
    action_reg: float = 0.0


@dataclass
class UCMSConfig(MADDPGConfig):
    """UCMS_MADDPG (``ucms_marl.learners.ucms``): the MADDPG UD learners plus the ES Q-network."""

    name: str = "ucms"
    es_hidden: list[int] = field(default_factory=lambda: [256, 256])
    lr_es: float = 3e-4
    es_epsilon: float = 0.2
    es_epsilon_min: float = 0.01
    es_epsilon_decay: float = 0.99
    es_warmup_episodes: int = 400
    ud_critic_target: str = "es"


@dataclass
class HeuristicConfig:
    name: str = "heuristic"
    policy: str = MISSING


@dataclass
class MAPPOConfig:
    """MAPPO (``ucms_marl.learners.ppo``): on-policy PPO, one UD actor shared by all UDs with a
    Bernoulli offload decision and Beta (f, p); centralised values; a learned ES head when
    the env has ES agents. ``learner/mappo.yaml`` documents every key."""

    name: str = "mappo"
    centralised_value: bool = True
    agent_id: bool = False
    actor_hidden: list[int] = field(default_factory=lambda: [64, 64])
    critic_hidden: list[int] = field(default_factory=lambda: [128, 128])
    es_hidden: list[int] = field(default_factory=lambda: [64, 64])
    activation: str = "tanh"
    continuous_dist: str = "beta"
    log_std_init: float = -0.5
    lr_actor: float = 1e-3
    lr_critic: float = 1e-3
    gamma: float = 0.5
    gae_lambda: float = 0.95
    clip_ratio: float = 0.2
    entropy_coef: float = 0.01
    value_clip: float | None = None
    normalize_advantages: bool = True
    normalize_values: bool = True
    reward_scale: float = 1.0
    ud_reward: str = "own"
    ppo_epochs: int = 10
    num_minibatches: int = 4
    max_grad_norm: float | None = 0.5
    rollout_episodes: int = 16


@dataclass
class IPPOConfig(MAPPOConfig):
    """IPPO: MAPPO with every value on the agent's own observation."""

    name: str = "ippo"
    centralised_value: bool = False


@dataclass
class UniformReplayConfig:
    name: str = "uniform"
    capacity: int = 100_000


@dataclass
class RewardTDPriorityReplayConfig:
    name: str = "reward_td_priority"
    capacity: int = 100_000
    upsilon_r: float = 0.5
    epsilon: float = 1e-3
    alpha: float = 1.0
    loss_weight: str = "eta"


@dataclass
class TrainConfig:
    seed: int = 0
    device: str = "auto"
    episodes: int = 1000
    eval_every: int = 100
    eval_episodes: int = 10
    eval_seed: int = 1_000_000
    num_envs: int = 1
    updates_per_episode: int = 2
    learning_starts: int = 320
    checkpoint_every: int = 100
    save_replay: bool = True
    resume: bool = False
    progress_bar: bool = True
    references: bool = True
    torch_threads: int = 0
    run_root: str = "runs"
    matcher: str | None = None
    admission: str | None = None
    es_agents: bool | None = None
    env: EnvConfig = field(default_factory=EnvConfig)
    learner: Any = MISSING
    replay: Any = MISSING


# schema for each option of the learner/ and replay/ groups (the YAML/dataclass agreement test
# checks every YAML file in those groups against it)
GROUP_SCHEMAS: dict[str, dict[str, type]] = {"learner": {}, "replay": {}}


def register_schema(group: str, name: str, node: type) -> None:
    """Store ``node`` as ``<group>/<name>_schema``, the first default of ``<group>/<name>.yaml``."""
    if group not in GROUP_SCHEMAS:
        raise ValueError(f"group must be one of {list(GROUP_SCHEMAS)}, got {group!r}")
    ConfigStore.instance().store(group=group, name=f"{name}_schema", node=node)
    GROUP_SCHEMAS[group][name] = node


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
    register_schema("learner", "ippo", IPPOConfig)
    register_schema("replay", "uniform", UniformReplayConfig)
    register_schema("replay", "reward_td_priority", RewardTDPriorityReplayConfig)


register_configs()
