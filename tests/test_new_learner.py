"""docs/extending.md's walk-through, "A learner: adding one", as a user follows it: the three
files it shows (the module, the learner YAML, the algo YAML) go into a copy of ``ucms_marl``,
and that copy trains, evaluates, lists and labels the new algorithm through the real CLI.
Nothing else in the copy changes, so a new learner touches those three files only."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "extending.md"
FILE = re.compile(r"<!-- new learner: (\S+) -->\n```\w+\n(.*?)\n```", re.S)


def walkthrough_files() -> dict[str, str]:
    """Path in the repository -> content, for each block the guide marks as a new file."""
    return {path: code + "\n" for path, code in FILE.findall(GUIDE.read_text())}


def python(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python <args>`` in ``cwd``, which comes first on the path (so its ``ucms_marl`` is the
    one imported); the repository second, for ``mec_env`` and ``experiments``."""
    env = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{REPO}", "HYDRA_FULL_ERROR": "1"}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def run(args: list[str], cwd: Path) -> str:
    """:func:`python` that must succeed; its standard output."""
    proc = python(args, cwd)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of ``ucms_marl`` with the guide's three files added."""
    root = tmp_path_factory.mktemp("tree")
    shutil.copytree(
        REPO / "ucms_marl", root / "ucms_marl", ignore=shutil.ignore_patterns("__pycache__")
    )
    for path, content in walkthrough_files().items():
        assert not (root / path).exists(), f"{path} would replace a file of the repository"
        (root / path).write_text(content)
    return root


def test_the_guide_adds_a_module_and_two_yaml_files():
    assert sorted(walkthrough_files()) == [
        "ucms_marl/conf/algo/toy.yaml",
        "ucms_marl/conf/learner/toy.yaml",
        "ucms_marl/learners/toy.py",
    ]


def test_the_new_algorithm_trains_and_evaluates(tree):
    runs = tree / "runs"
    run(
        ["-m", "ucms_marl.train", "algo=toy", "env=small", "experiment=smoke",
         "references=false", "progress_bar=false", "torch_threads=1", f"run_root={runs}"],
        cwd=tree,
    )  # fmt: skip
    run_dir = runs / "toy" / "small" / "smoke" / "seed_0"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["episodes"] == 4 and summary["updates"] > 0
    assert 0 < summary["eval"]["cost"] < 1
    config = json.loads((run_dir / "config.json").read_text())
    assert config["learner"] == {"name": "toy", "lr": 0.05, "batch_size": 32, "noise_std": 0.1}


def test_the_new_option_is_typed_listed_and_labelled(tree):
    typo = python(["-m", "ucms_marl.train", "algo=toy", "learner.lr=fast", "--cfg", "job"], tree)
    assert typo.returncode != 0 and "learner.lr" in typo.stderr  # the schema types its keys
    help_text = run(["-m", "ucms_marl.train", "--help"], cwd=tree)
    groups = help_text.split("== Configuration groups")[1].split("== Config (")[0]
    assert re.search(r"algo=.*\btoy\b.*\n\s+\(learner \+ replay", groups, re.S)
    assert re.search(r"learner=.*\btoy\b", groups, re.S)
    shown = run(
        ["-c", "from experiments.catalog import colour, label; print(label('toy'), colour('toy'))"],
        cwd=tree,
    )
    assert shown.split() == ["Toy", "#8c564b"]
