"""Every snippet in README.md and docs/*.md runs as pasted.

* ``python`` blocks run as they are, each in a fresh interpreter in an empty directory (a
  block that needs a package this install lacks, e.g. ``ray``, is skipped with the reason).
  A block whose fence is preceded by ``<!-- snippet: after-run -->`` reads a run directory;
  the test trains a 4-episode run into every ``runs/<algo>/<env>/<experiment>/seed_<s>`` the
  block names, so it finds real files there.
* ``bash`` blocks: every ``ucms-train`` line is composed with its overrides and validated as
  ``ucms-train`` validates before training (Hydra composition, the trainer's, the env's and
  the learner's checks; a multirun ``-m a,b`` line is checked with each of its values;
  ``hydra.*`` launcher settings are left to Hydra); every
  ``ucms-eval`` line, ``python -m mec_env`` and ``python -m experiments list|plan`` line runs.
  Lines that install, train for minutes or hours, or start a server (``pip``,
  ``tensorboard``, ``python benchmarks/...``, ``python -m experiments run|reproduce|...``)
  are not run; any other command fails the test until it is classified here.
  ``<!-- snippet: skip (reason) -->`` before a fence skips a block.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import re
import shlex
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "experiments/README.md"]
OPTIONAL = ("torchrl", "tensordict", "supersuit", "ray", "benchmarl", "pandas", "vmas")
NOT_RUN = (
    "pip ", "tensorboard ", "python benchmarks/", "bash ", "sbatch ", "git ", "python -m pytest",
    "python -m venv", ". ", "source ", "echo ",
    "python -m experiments run", "python -m experiments reproduce", "python -m experiments plot",
    "python -m experiments report", "python -m experiments time",
)  # fmt: skip
RUN_DIR = re.compile(r"runs/(\w+)/(\w+)/(\w+)/seed_(\d+)")


@dataclass
class Snippet:
    path: Path
    line: int
    lang: str
    code: str
    marker: str

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def snippets(lang: str) -> list[Snippet]:
    out = []
    for path in DOCS:
        lines = path.read_text().splitlines()
        i = 0
        while i < len(lines):
            if lines[i].strip() == f"```{lang}":
                previous = next((x for x in reversed(lines[:i]) if x.strip()), "")
                marker = ""
                if m := re.match(r"<!-- snippet: (.*?) -->", previous.strip()):
                    marker = m.group(1)
                j = i + 1
                while lines[j].strip() != "```":
                    j += 1
                code = textwrap.dedent("\n".join(lines[i + 1 : j]))  # blocks in list items
                out.append(Snippet(path, i + 1, lang, code, marker))
                i = j
            i += 1
    return out


def _missing_optional(code: str) -> list[str]:
    imported = set(re.findall(r"^\s*(?:import|from)\s+(\w+)", code, flags=re.M))
    return [m for m in OPTIONAL if m in imported and importlib.util.find_spec(m) is None]


def _make_runs(code: str, where: Path) -> None:
    """A real (tiny) training run in every run directory the snippet names."""
    from tests.trainer.helpers import TINY, compose_cfg
    from ucms_marl.train import run

    for algo, _env, _experiment, seed in set(RUN_DIR.findall(code)):
        run_dir = where / "runs" / algo / _env / _experiment / f"seed_{seed}"
        if not run_dir.exists():
            run(compose_cfg([f"algo={algo}", *TINY, f"seed={seed}"]), run_dir, algo=algo)


PYTHON = snippets("python")


@pytest.mark.parametrize("snippet", PYTHON, ids=[s.id for s in PYTHON])
def test_python_snippet_runs(snippet, tmp_path):
    if snippet.marker.startswith("skip"):
        pytest.skip(snippet.marker)
    if missing := _missing_optional(snippet.code):
        pytest.skip(f"needs {', '.join(missing)}, not installed here")
    if snippet.marker == "after-run":
        _make_runs(snippet.code, tmp_path)
    env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", snippet.code], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"{snippet.id} failed:\n{proc.stdout}\n{proc.stderr}"


def bash_commands() -> list[tuple[str, str]]:
    """(where, command) for every command line of every bash block (continuations joined)."""
    out = []
    for snippet in snippets("bash"):
        if snippet.marker.startswith("skip"):
            continue
        text = re.sub(r"\\\n\s*", " ", snippet.code)
        for k, raw in enumerate(text.splitlines()):
            line = re.sub(r"(^|\s)#.*$", "", raw).strip()
            for command in filter(None, (c.strip() for c in line.split("&&"))):
                out.append((f"{snippet.id}+{k}", command))
    return out


def _expand_sweep(args: list[str]) -> list[list[str]]:
    """A multirun's overrides as the list of single runs it stands for (``a=x,y`` -> x, y)."""
    choices = []
    for arg in args:
        key, eq, value = arg.partition("=")
        if eq and "," in value and not value.startswith("["):
            choices.append([f"{key}={v}" for v in value.split(",")])
        else:
            choices.append([arg])
    return [list(c) for c in itertools.product(*choices)]


COMMANDS = bash_commands()


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_bash_command_is_valid(where, command, tmp_path, monkeypatch):
    from tests.trainer.helpers import compose_cfg
    from ucms_marl.train import build, validate

    words = shlex.split(command)
    while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value prefixes
        words.pop(0)
    head = " ".join(words)
    if any(head.startswith(p.strip()) for p in NOT_RUN):
        pytest.skip("installs, starts a server or trains for minutes: not run by the tests")
    monkeypatch.chdir(tmp_path)
    if words[:3] == ["python", "-m", "ucms_marl.train"]:
        words = ["ucms-train", *words[3:]]
    if words[0] == "ucms-train":
        args = [w for w in words[1:] if w not in ("-m", "--multirun", "...")]
        args = [a for a in args if not a.startswith(("hydra.", "hydra/", "--"))]
        import torch

        if not torch.cuda.is_available():  # a GPU line is checked for everything but the GPU
            args = ["device=cpu" if a.startswith("device=cuda") else a for a in args]
        for overrides in _expand_sweep(args):
            cfg = compose_cfg(overrides)
            validate(cfg)
            build(cfg)[2].close()
    elif words[0] == "ucms-eval":
        from ucms_marl import evaluate

        _make_runs(command, tmp_path)
        evaluate.run_evaluation(words[1:])
    elif words[:3] in (["python", "-m", "mec_env"], ["python", "-m", "experiments"]):
        env = {**os.environ, "MPLBACKEND": "Agg", "PYTHONPATH": str(REPO)}
        proc = subprocess.run(
            [sys.executable, *words[1:]], cwd=REPO if words[2] == "experiments" else tmp_path,
            env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"{where}: {command}\n{proc.stdout}\n{proc.stderr}"
    else:
        pytest.fail(f"{where}: `{command}` is not classified in tests/test_docs_snippets.py")
