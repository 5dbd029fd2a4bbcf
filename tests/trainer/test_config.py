"""Every composed option has exactly its dataclass schema's keys, each value is written once,
and every YAML key carries a comment."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

import ucms_marl.conf
from mec_env.config import DEFAULT_PRESET, PRESETS
from tests.trainer.helpers import REPO, compose_cfg
from ucms_marl.config import ALGO_ENV_KEYS, ENV_KEYS, GROUP_SCHEMAS, EnvGroupConfig, TrainConfig
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


def test_env_schema_is_mec_envs_config():
    exposed = set(PRESETS[DEFAULT_PRESET]) - set(ALGO_ENV_KEYS) - {"es_action_space", "render_mode"}
    assert set(ENV_KEYS) == exposed
    assert fields(EnvGroupConfig) == {"preset", *ENV_KEYS}


@pytest.mark.parametrize("path", sorted((CONF / "env").glob("*.yaml")), ids=lambda p: p.stem)
def test_env_yaml_names_its_preset_and_only_changes(path):
    data = yaml.safe_load(path.read_text())
    assert data["preset"] == path.stem
    preset = PRESETS[path.stem]
    assert all(data[k] != preset[k] for k in set(data) - {"preset"}), "restates a preset value"
    env = compose_cfg([f"env={path.stem}"]).env
    assert set(env) == fields(EnvGroupConfig) and env.preset == path.stem


# files that start from another option of their group and change some of its keys
VARIANTS = {"learner": {"maddpg_paper": "maddpg", "ucms_paper": "ucms", "ippo": "mappo"}}
# options with a schema of their own that extend another option (its keys and values, then
# the new keys of their schema)
EXTENDS = {"learner": {"ucms": "maddpg"}}


def _compose_option(group: str, name: str):
    algo = "greedy" if (group, name) == ("learner", "heuristic") else "maddpg"
    return compose_cfg([f"algo={algo}", f"{group}={name}"])[group]


def _schema_of(group: str, name: str) -> type:
    return GROUP_SCHEMAS[group][VARIANTS.get(group, {}).get(name, name)]


@pytest.mark.parametrize(
    ("group", "name"),
    [(g, p.stem) for g in GROUP_SCHEMAS for p in sorted((CONF / g).glob("*.yaml"))],
)
def test_group_option_composes_to_its_dataclass(group, name):
    """The composed option has its schema's type and exactly its fields, every one set."""
    node = _compose_option(group, name)
    schema = _schema_of(group, name)
    assert OmegaConf.get_type(node) is schema
    assert set(node) == fields(schema)
    assert OmegaConf.missing_keys(node) == set()
    defaults = yaml.safe_load((CONF / group / f"{name}.yaml").read_text())["defaults"]
    if name not in VARIANTS.get(group, {}) and name not in EXTENDS.get(group, {}):
        assert defaults == [f"{name}_schema", "_self_"]
    names = set(GROUP_SCHEMAS[group]) | set(VARIANTS.get(group, ()))
    assert {p.stem for p in (CONF / group).glob("*.yaml")} == names


@pytest.mark.parametrize(
    ("group", "name"),
    [(g, n) for table in (VARIANTS, EXTENDS) for g, names in table.items() for n in names],
)
def test_extending_yaml_states_only_what_differs(group, name):
    base = {**VARIANTS.get(group, {}), **EXTENDS.get(group, {})}[name]
    data = yaml.safe_load((CONF / group / f"{name}.yaml").read_text())
    # the shared fragments it includes (conf/<group>_parts/, not selectable themselves)
    parts = [d.split("@")[0] for d in data["defaults"] if d.startswith(f"/{group}_parts/")]
    defaults = [d for d in data["defaults"] if not d.startswith(f"/{group}_parts/")]
    if name in EXTENDS.get(group, {}):
        assert defaults == [base, f"{name}_schema", "_self_"]
    else:
        assert defaults == [base, "_self_"]
        assert yaml_keys(CONF / group / f"{name}.yaml") <= fields(GROUP_SCHEMAS[group][base])
    for part in parts:  # a fragment holds schema keys and restates none of the base's values
        path = CONF / f"{part.lstrip('/')}.yaml"
        assert yaml_keys(path) <= fields(GROUP_SCHEMAS[group][base])
        base_values = OmegaConf.to_container(_compose_option(group, base))
        fragment = yaml.safe_load(path.read_text())
        assert [k for k in fragment if base_values.get(k) == fragment[k]] == [], path.name
    base_values = OmegaConf.to_container(_compose_option(group, base))
    same = [k for k in yaml_keys(CONF / group / f"{name}.yaml") if base_values.get(k) == data[k]]
    assert same == [], f"{name}.yaml restates {base}'s values"


def test_experiment_files_change_only_what_differs_from_config_yaml():
    top = yaml.safe_load((CONF / "config.yaml").read_text())
    for path in (CONF / "experiment").glob("*.yaml"):
        data = yaml.safe_load(path.read_text()) or {}
        assert [k for k in data if data[k] == top[k]] == [], path.name


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
    ["episodes=ten", "learner.lr_actor=fast", "env.bogus=1", "learner.lr=1", "bogus=1"],
)
def test_bad_types_and_unknown_keys_fail_at_composition(override):
    with pytest.raises((ConfigCompositionException, ValidationError)):
        compose_cfg(["algo=maddpg", override])


def test_bad_env_values_are_reported_by_mec_env_in_one_line(capsys, monkeypatch):
    from ucms_marl.train import check_config, one_line_errors

    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    cfg = compose_cfg(["algo=maddpg", "env=small", "env.n_uds=many"])
    with pytest.raises(SystemExit) as exit_info, one_line_errors("ucms-train"):
        check_config(cfg)
    assert exit_info.value.code == 2
    line = "ucms-train: error: config key 'n_uds' got 'many'; allowed: an integer >= 1"
    assert capsys.readouterr().err.strip().splitlines() == [line]
