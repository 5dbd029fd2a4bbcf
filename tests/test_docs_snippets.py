"""Every snippet in README.md and docs/*.md runs as pasted.

* ``python`` blocks run as they are, each in a fresh interpreter in an empty directory. A
  block that needs a package this install lacks is skipped with the reason, judged by what the
  block imports and, through the project's modules it imports (``mec_env.torchrl_env`` ...),
  what those import at module level: a block that needs the ``torchrl`` or ``fast`` extra
  ("needs the torchrl extra") or a package of no extra (``ray``, ``benchmarl``). Any other
  missing package fails the block: the README's install must bring it.
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

import ast
import functools
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
# optional modules: the extra that brings each (not in the README's install), or None for
# packages of no extra of this project
OPTIONAL = {
    "torchrl": "torchrl", "tensordict": "torchrl", "numba": "fast",
    "ray": None, "benchmarl": None, "pandas": None, "vmas": None,
}  # fmt: skip
PROJECT = ("mec_env", "ucms_marl", "experiments", "benchmarks")
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


def _module_imports(tree: ast.Module) -> set[str]:
    """The modules a file imports when it is imported: module level, including ``if`` and
    ``try`` blocks, not inside functions or classes (those run only when called)."""
    out: set[str] = set()
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # submodules
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody", "handlers"):
                todo.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            todo.extend(node.body)
    return out


@functools.cache
def _file_imports(path: Path) -> set[str]:
    return _module_imports(ast.parse(path.read_text()))


def _project_files(module: str) -> list[Path]:
    """The files importing ``module`` runs, if it is the project's: its packages'
    ``__init__`` and its own file."""
    parts, files = module.split("."), []
    for k in range(1, len(parts) + 1):
        path = REPO.joinpath(*parts[:k])
        for candidate in (path / "__init__.py", path.with_suffix(".py")):
            if candidate.is_file():
                files.append(candidate)
    return files


def _missing_optional(code: str) -> tuple[str, ...]:
    """Why a block cannot run in this install, or ``()``: the optional packages it needs,
    found by following its imports through the project's modules (module level only)."""
    needs: set[str] = set()
    seen: set[Path] = set()
    todo = [_module_imports(ast.parse(code))]
    while todo:
        for module in todo.pop():
            if module.split(".")[0] not in PROJECT:
                needs.add(module.split(".")[0])
                continue
            for file in _project_files(module):
                if file not in seen:
                    seen.add(file)
                    todo.append(_file_imports(file))
    missing = sorted(m for m in needs if m in OPTIONAL and importlib.util.find_spec(m) is None)
    extras = sorted({OPTIONAL[m] for m in missing if OPTIONAL[m]})
    reasons = [f'needs the {e} extra (pip install "mec-env[{e}]")' for e in extras]
    if others := [m for m in missing if not OPTIONAL[m]]:
        reasons.append(f"needs {', '.join(others)} (no extra of this project)")
    return tuple(reasons) + ((f"not installed here: {', '.join(missing)}",) if missing else ())


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
        pytest.skip("; ".join(missing))
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


def _readme_block(heading: str) -> list[str]:
    """The command lines of the first bash block under README.md's ``## heading``."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(f"## {heading}\n") :]
    block = section[section.index("```bash\n") + len("```bash\n") :]
    return [line for line in block[: block.index("```")].splitlines() if line.strip()]


def test_ci_runs_the_readme_install_line_and_test_command_first():
    """.ci/run's first install line and first test command are README.md's, character for
    character, in that order, with nothing that installs a package before them."""
    install = _readme_block("Set up and run")[0]
    (test_command,) = _readme_block("Run the tests")
    assert install.startswith("pip install ") and test_command == "python -m pytest -n 2 -q"
    lines = [line.strip() for line in (REPO / ".ci/run").read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    installs = [k for k, line in enumerate(commands) if "pip install" in line]
    tests = [k for k, line in enumerate(commands) if line.startswith("python -m pytest")]
    assert commands[installs[0]] == install
    # the README's command, its output also kept for step 2
    assert commands[tests[0]].split(" 2>&1 | tee ")[0] == test_command
    assert installs[0] < tests[0] < installs[1], "the extras are installed after the README's test"


def test_a_block_is_skipped_by_what_it_needs(monkeypatch):
    """A block importing the native TorchRL env needs the torchrl extra even though it never
    imports torchrl itself; a block of the core package needs no extra."""
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name in ("torchrl", "tensordict") else real(name, *a),
    )
    reasons = _missing_optional("from mec_env.torchrl_env import MECTorchRLEnv\n")
    assert reasons[0] == 'needs the torchrl extra (pip install "mec-env[torchrl]")'
    assert _missing_optional("import mec_env\nimport numpy as np\n") == ()
    assert _missing_optional("import ray\n")[0] == "needs ray (no extra of this project)"
