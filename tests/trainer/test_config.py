"""Every YAML file agrees with its dataclass schema, and every YAML key carries a comment."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

import ucms_marl.conf
from tests.trainer.helpers import REPO, compose_cfg
from ucms_marl.config import ENV_KEYS, GROUP_SCHEMAS, EnvConfig, TrainConfig
from ucms_marl.learners import LEARNERS

CONF = Path(ucms_marl.conf.__file__).parent
ALGOS = sorted(p.stem for p in (CONF / "algo").glob("*.yaml"))
TOP_KEYS = {f.name for f in dataclasses.fields(TrainConfig)} - {"env", "learner", "replay"}


def fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def yaml_keys(path: Path) -> set[str]:
    data = yaml.safe_load(path.read_text()) or {}
    return {k for k in data if k not in ("defaults", "hydra")}


def test_top_level_conf_is_the_package_conf():
    assert (REPO / "conf").resolve() == CONF.resolve()


def test_primary_config_matches_train_schema():
    assert yaml_keys(CONF / "config.yaml") == TOP_KEYS


@pytest.mark.parametrize("path", sorted((CONF / "env").glob("*.yaml")), ids=lambda p: p.stem)
def test_env_yaml_matches_env_schema(path):
    assert yaml_keys(path) == fields(EnvConfig)
    assert set(ENV_KEYS) == fields(EnvConfig) - {"preset"}
    assert yaml.safe_load(path.read_text())["preset"] == path.stem


@pytest.mark.parametrize(
    ("group", "name"), [(g, n) for g, schemas in GROUP_SCHEMAS.items() for n in schemas]
)
def test_group_yaml_matches_its_dataclass(group, name):
    path = CONF / group / f"{name}.yaml"
    assert yaml_keys(path) == fields(GROUP_SCHEMAS[group][name])
    assert yaml.safe_load(path.read_text())["defaults"][0] == f"{name}_schema"
    assert {p.stem for p in (CONF / group).glob("*.yaml")} == set(GROUP_SCHEMAS[group]) | set(
        VARIANTS.get(group, ())
    )


# files that start from another option of their group and change some of its keys
VARIANTS = {"learner": {"maddpg_paper": "maddpg", "ucms_paper": "ucms"}}


@pytest.mark.parametrize(
    ("group", "name"), [(g, n) for g, names in VARIANTS.items() for n in names]
)
def test_variant_yaml_extends_an_option_with_its_keys(group, name):
    base = VARIANTS[group][name]
    data = yaml.safe_load((CONF / group / f"{name}.yaml").read_text())
    assert data["defaults"] == [base, "_self_"]
    assert yaml_keys(CONF / group / f"{name}.yaml") <= fields(GROUP_SCHEMAS[group][base])


@pytest.mark.parametrize(
    "path", sorted(CONF.rglob("*.yaml")), ids=lambda p: str(p.relative_to(CONF))
)
def test_every_yaml_key_has_a_comment(path):
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if (
            not stripped
            or stripped.startswith("#")
            or stripped.startswith("- ")
            or stripped.endswith(":")
        ):
            continue  # comments, defaults entries, and parents of nested keys
        if re.match(r"^[\w/.\-]+:", stripped):
            assert "#" in stripped, f"{path.name}: key without a comment: {line!r}"


def test_algo_and_experiment_files_set_only_schema_keys():
    for path in [*(CONF / "algo").glob("*.yaml"), *(CONF / "experiment").glob("*.yaml")]:
        keys = yaml_keys(path) - {"learner"}
        assert keys <= TOP_KEYS, (path.name, keys - TOP_KEYS)


@pytest.mark.parametrize("algo", ALGOS)
def test_every_algo_composes(algo):
    cfg = compose_cfg([f"algo={algo}"])
    assert cfg.learner.name in LEARNERS.names()


def test_paper_compositions_follow_spec_section_9():
    expected = {
        "maddpg": "accept_all",
        "offloadcost_maddpg": "offload_cost_first",
        "deadline_maddpg": "deadline_first",
    }
    for algo, admission in expected.items():
        cfg = compose_cfg([f"algo={algo}"])
        assert (cfg.matcher, cfg.admission, cfg.es_agents) == ("max_gain", admission, False)
        assert (cfg.learner.name, cfg.replay.name) == ("maddpg", "uniform")
        assert cfg.replay.capacity == 100_000 and cfg.learner.gamma == 0.99
        paper = compose_cfg([f"algo={algo}", "learner=maddpg_paper"]).learner
        assert paper.lr_actor == 1e-4 and paper.lr_critic == 1e-3
        assert list(paper.critic_hidden) == [512, 512] and paper.batch_size == 64
        assert list(paper.actor_hidden) == [64, 64] and not paper.share_params
        assert (paper.critic, paper.offload_decision) == ("per_agent", "threshold")


def test_paper_ucms_keeps_the_es_network():
    cfg = compose_cfg(["algo=ucms_maddpg", "learner=ucms_paper"]).learner
    assert cfg.name == "ucms" and list(cfg.es_hidden) == [512, 512] and cfg.lr_es == 1e-3
    assert list(cfg.critic_hidden) == [512, 512] and cfg.critic == "per_agent"


def test_command_line_group_override_beats_the_algo_file():
    cfg = compose_cfg(["algo=maddpg", "replay=reward_td_priority", "matcher=co_selection"])
    assert cfg.replay.name == "reward_td_priority" and cfg.matcher == "co_selection"


@pytest.mark.parametrize(
    "override",
    ["episodes=ten", "learner.lr_actor=fast", "env.n_uds=many", "learner.lr=1", "bogus=1"],
)
def test_bad_types_and_unknown_keys_fail_at_composition(override):
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_cfg(["algo=maddpg", override])
