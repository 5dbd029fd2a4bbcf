"""docs/extending.md's walk-through "An environment parameter", as a user follows it: its diffs
(the idle drain ``idle_drain_j``) go into a copy of ``mec_env`` and of docs/environment.md,
each hunk matching its file exactly once, and that copy then

* plays the stored trajectories with the default, with numpy and through the compiled
  backend's plumbing (run with ``NUMBA_DISABLE_JIT=1``: the same kernels as Python, fast),
* runs the guide's own check of a non-default drain, and lowers batteries by it,
* rejects a bad value with a one-line ConfigError naming the key.

The repository's ``mec_env`` is not changed: the example lives in the guide and the copy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mec_env
from mec_env.sim import fast

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "extending.md"
EDIT = re.compile(r"<!-- env parameter: (\S+) -->\n```diff\n(.*?)\n```", re.S)
USE = re.compile(
    r"<!-- env parameter: use -->\n<!-- snippet: skip .*? -->\n```python\n(.*?)\n```", re.S
)
KERNELS = ["numpy"] + (["numba"] if fast.available() else [])


def section() -> str:
    text = GUIDE.read_text()
    start = text.index("\n## An environment parameter\n")
    return text[start : text.index("\n## ", start + 1)]


def edits() -> list[tuple[str, str]]:
    """(path in the repository, diff) for each diff block of the section, in order."""
    return EDIT.findall(section())


def apply_diff(text: str, diff: str, path: str) -> str:
    """``text`` with each ``@@`` hunk of ``diff`` applied: the hunk's context and ``-`` lines,
    found exactly once, become its context and ``+`` lines."""
    hunks: list[list[str]] = []
    for line in diff.split("\n"):
        if line.startswith("@@"):
            hunks.append([])
        else:
            assert hunks, f"{path}: a diff line before the first @@: {line!r}"
            hunks[-1].append(line)
    for hunk in hunks:
        old = "\n".join(x[1:] for x in hunk if x[:1] in (" ", "-", "")) + "\n"
        new = "\n".join(x[1:] for x in hunk if x[:1] in (" ", "+", "")) + "\n"
        assert all(x[:1] in (" ", "-", "+", "") for x in hunk), f"{path}: bad diff line"
        assert text.count(old) == 1, f"{path}: this hunk matches {text.count(old)} times:\n{old}"
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """A copy of ``mec_env`` and docs/environment.md with the guide's diffs applied."""
    root = tmp_path_factory.mktemp("tree")
    shutil.copytree(
        REPO / "mec_env", root / "mec_env", ignore=shutil.ignore_patterns("__pycache__")
    )
    (root / "docs").mkdir()
    shutil.copy(REPO / "docs" / "environment.md", root / "docs" / "environment.md")
    for path, diff in edits():
        target = root / path
        target.write_text(apply_diff(target.read_text(), diff, path))
    return root


def python(code: str, tree: Path, **env: str) -> str:
    """``code`` in a fresh interpreter that imports the copy's ``mec_env`` (the repository
    second on the path, for ``tests``); its standard output."""
    full = {**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{REPO}", **env}
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tree,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc.stdout


def kernel_env(kernels: str) -> dict[str, str]:
    jit = {"NUMBA_DISABLE_JIT": "1"} if kernels == "numba" else {}
    return {"MEC_ENV_KERNELS": kernels, **jit}


def test_the_guide_edits_these_files_and_not_the_repository():
    assert [path for path, _ in edits()] == [
        "mec_env/config.py",
        "mec_env/sim/params.py",
        "mec_env/sim/battery.py",
        "mec_env/sim/slot.py",
        "mec_env/sim/backend.py",
        "mec_env/sim/_numba_kernels.py",
        "docs/environment.md",
    ]
    assert len(USE.findall(section())) == 1
    assert "idle_drain_j" not in mec_env.config.PRESETS["paper"]  # only the copy has the key


def test_the_edited_docs_show_the_key(tree):
    text = (tree / "docs" / "environment.md").read_text()
    assert "| `idle_drain_j` | i | 0 J | same | same | same |" in text
    assert "idle_drain_j        i, idle drain per slot" in (tree / "mec_env/config.py").read_text()


@pytest.mark.parametrize("kernels", KERNELS)
def test_the_default_plays_the_stored_trajectories(tree, kernels):
    code = textwrap.dedent(
        f"""
        import json
        from pathlib import Path
        import mec_env
        from mec_env.config import PRESETS, make_config
        from tests.env.trajectory_hashes import CASES, HASH_FILE, single_hash

        assert Path(mec_env.__file__).is_relative_to({str(tree)!r})  # the copy
        assert all(make_config(p).idle_drain_j == 0.0 for p in PRESETS)
        stored = json.loads(HASH_FILE.read_text())
        cases = ["small", "paper_energy", "paper_energy-max_gain-no_es", "heterogeneous"]
        print(json.dumps({{c: single_hash(*CASES[c], 0, {kernels!r}) == stored[c][0]
                          for c in cases}}))
        """
    )
    same = json.loads(python(code, tree, **kernel_env(kernels)))
    assert all(same.values()), same


@pytest.mark.parametrize("kernels", KERNELS)
def test_a_drain_lowers_the_batteries_as_the_rule_says(tree, kernels):
    (use,) = USE.findall(section())
    python(use, tree, **kernel_env(kernels))  # the guide's own check
    code = textwrap.dedent(
        """
        import json
        import numpy as np
        import mec_env

        def first_slot(drain):
            env = mec_env.parallel_env("paper_energy", idle_drain_j=drain)
            env.reset(seed=3)
            # every UD computes locally, every ES approves nothing
            actions = {a: np.zeros(env.action_space(a).shape, env.action_space(a).dtype)
                       for a in env.possible_agents}
            for a in env.possible_agents[: env.config.n_uds]:
                actions[a] = np.full(3, 0.2, np.float32)
            env.step(actions)
            return env.last_step

        free, drained = first_slot(0.0), first_slot(2e-3)
        b = free["battery_j"]
        print(json.dumps({
            "same_energy": bool(np.array_equal(free["energy_j"], drained["energy_j"])),
            "hand": bool(np.array_equal(drained["battery_j"], np.clip(b - 2e-3, 0.0, None))),
            "lower": int((drained["battery_j"] < b).sum()),
        }))
        """
    )
    got = json.loads(python(code, tree, **kernel_env(kernels)))
    # every UD local, no ES approvals: the same energies; below b_max after the slot, the
    # drain comes straight off the battery
    assert got["same_energy"] and got["hand"] and got["lower"] == 48, got


def test_a_bad_value_is_a_config_error_naming_the_key(tree):
    code = textwrap.dedent(
        """
        from mec_env import ConfigError
        from mec_env.config import make_config

        for bad in (-1e-3, float("nan"), float("inf"), "1", True, None):
            try:
                make_config("small", idle_drain_j=bad)
            except ConfigError as err:
                print(err)
            else:
                raise SystemExit(f"{bad!r} accepted")
        """
    )
    lines = python(code, tree).splitlines()
    assert len(lines) == 6 and all(x.startswith("config key 'idle_drain_j' got ") for x in lines)
    assert lines[0] == "config key 'idle_drain_j' got -0.001; allowed: a finite number >= 0"
