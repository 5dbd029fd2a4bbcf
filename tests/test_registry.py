"""The one registry type (mec_env.registry.Registry) and the kinds that use it."""

from __future__ import annotations

from pathlib import Path

import pytest

import mec_env
import ucms_marl.conf
from mec_env.registry import Registry, UnknownNameError


def test_register_by_decorator_or_call_with_metadata():
    shapes = Registry("shape")

    @shapes.register("square", sides=4)
    class Square: ...

    def triangle():
        return 3

    assert shapes.register("triangle", triangle) is triangle
    assert shapes.get("square") is Square and shapes["triangle"] is triangle
    assert dict(shapes.metadata("square")) == {"sides": 4}
    assert dict(shapes.metadata("triangle")) == {}
    assert shapes.names() == ("square", "triangle")  # registration order
    assert list(shapes) == ["square", "triangle"] and len(shapes) == 2
    assert "square" in shapes and "circle" not in shapes and ["x"] not in shapes
    assert shapes.get("circle", None) is None


def test_errors_name_the_kind_the_name_and_the_allowed_names():
    shapes = Registry("shape")
    shapes.register("square", object)
    with pytest.raises(UnknownNameError, match=r"unknown shape 'circle'; choose one of: square"):
        shapes.get("circle")
    with pytest.raises(KeyError):  # a mapping too
        shapes["circle"]
    with pytest.raises(ValueError, match="already registered"):
        shapes.register("square", dict)
    shapes.register("square", dict, overwrite=True)
    assert shapes["square"] is dict
    with pytest.raises(TypeError, match="shape 'round' must be callable"):
        shapes.register("round", 42)
    with pytest.raises(ValueError, match="non-empty string"):
        shapes.register("", object)


def test_import_paths_resolve_in_every_registry():
    shapes = Registry("shape")
    path = "tests.plugin_example.components:fastest_server"
    from tests.plugin_example import components

    assert path not in shapes
    assert shapes.get(path) is components.fastest_server
    assert path in shapes  # registered under the path on first use
    with pytest.raises(ValueError, match="shape 'tests.nope:x': cannot import module"):
        shapes.get("tests.nope:x")


def test_batched_forms_are_registration_metadata():
    from mec_env import batched_matching  # noqa: F401  (adds the built-ins' batched forms)

    for name in ("co_selection", "max_gain", "random"):
        assert callable(mec_env.MATCHERS.metadata(name)["batched"])
    assert "compiled" in mec_env.MATCHERS.metadata("co_selection")
    builtin_rules = ("accept_all", "offload_cost_first", "deadline_first", "saving_first")
    assert all(mec_env.ADMISSIONS.metadata(n)["batched"] for n in builtin_rules)


def test_every_pluggable_kind_is_one_registry_type():
    from mec_env.policies import POLICIES, POLICY_ENV_OVERRIDES, POLICY_NAMES, env_overrides_for
    from ucms_marl.config import GROUP_SCHEMAS
    from ucms_marl.learners import LEARNERS
    from ucms_marl.replay import REPLAYS

    kinds = [mec_env.MATCHERS, mec_env.ADMISSIONS, POLICIES, LEARNERS, REPLAYS]
    kinds += list(GROUP_SCHEMAS.values())
    from experiments.catalog import FIGURES

    assert all(type(r) is Registry for r in [*kinds, FIGURES])
    assert FIGURES.names()[:2] == ("fig4", "fig5") and not FIGURES.callables
    groups = [r.entry_point_group for r in kinds[:5]]
    assert groups == [
        "mec_env.matchers",
        "mec_env.admissions",
        "mec_env.policies",
        "ucms_marl.learners",
        "ucms_marl.replays",
    ]
    # a policy's env overrides are its registration metadata, read by the public helpers
    assert POLICIES.metadata("greedy")["env_overrides"] == env_overrides_for("greedy")
    assert POLICY_ENV_OVERRIDES["greedy"] == {"es_agents": False, "admission": "saving_first"}
    assert POLICY_NAMES == POLICIES.names()


def test_restored_puts_entries_and_metadata_back():
    def square():
        return "square"

    reg = Registry("shape")
    reg.register("square", square, sides=4)
    with reg.restored():
        reg.clear()
        reg.register("circle", square)
        assert reg.names() == ("circle",)
    assert reg.names() == ("square",) and dict(reg.metadata("square")) == {"sides": 4}


def test_every_algorithm_is_declared_by_its_learner():
    """Each conf/algo file's learner registration gives the algorithm its label and colour
    (the figures' legend), and each learner's schema is the one Hydra types its YAML with."""
    from tests.trainer.helpers import compose_cfg
    from ucms_marl.config import GROUP_SCHEMAS
    from ucms_marl.learners import LEARNERS, algorithms

    conf = Path(ucms_marl.conf.__file__).parent
    for path in sorted((conf / "algo").glob("*.yaml")):
        learner = compose_cfg([f"algo={path.stem}"]).learner.name
        metadata = LEARNERS.metadata(learner)
        assert path.stem in metadata["algorithms"], path.stem
        assert GROUP_SCHEMAS["learner"][learner] is metadata["schema"]
    assert set(algorithms()) == {p.stem for p in (conf / "algo").glob("*.yaml")}
