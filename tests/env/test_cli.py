"""``python -m mec_env``: the smallest "main job" runs, prints what it promises, and rejects
bad arguments with a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import mec_env
from mec_env.__main__ import main, parse_override
from mec_env.policies import POLICY_NAMES, env_overrides_for, make_policy

ROOT = Path(__file__).resolve().parents[2]
METRICS = (
    "mean_cost",
    "timeout_rate",
    "offload_rate",
    "participation_rate",
    "below_battery_rate",
    "admission_cuts",
    "mean_reward",
)


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "MPLBACKEND": "Agg",
    }
    return subprocess.run(
        [sys.executable, "-m", "mec_env", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _slot_rows(stdout: str) -> list[list[str]]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["slot"])
    rows = []
    for line in lines[start + 1 :]:
        cells = line.split()
        if cells and cells[0].isdigit() and len(cells) == len(METRICS) + 1:
            rows.append(cells)
    return rows


def test_subprocess_runs_one_episode_with_per_slot_metrics():
    result = _run("--preset", "small", "--policy", "greedy", "--seed", "0")
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["slot"])
    assert header.split() == ["slot", *METRICS]
    rows = _slot_rows(result.stdout)
    assert [int(r[0]) for r in rows] == list(range(1, 11))
    assert "episode summary:" in result.stdout

    # The printed mean costs are the environment's, played in-process with the same seed.
    env = mec_env.parallel_env("small", **env_overrides_for("greedy"))
    policy = make_policy("greedy", env)
    observations, _ = env.reset(seed=0)
    costs = []
    while env.agents:
        observations, _, _, _, infos = env.step(policy(observations))
        costs.append(infos["ud_0"]["slot_mean_cost"])
    assert [float(r[1]) for r in rows] == pytest.approx(costs, abs=5e-5)
    mean_line = next(
        line for line in result.stdout.splitlines() if line.strip().startswith("mean_cost (mean)")
    )
    assert float(mean_line.split()[-1]) == pytest.approx(np.mean(costs), abs=5e-5)


def test_subprocess_help_documents_policies_and_keys():
    result = _run("--help")
    assert result.returncode == 0
    for word in (
        *POLICY_NAMES,
        "--preset",
        "--seed",
        "--render",
        "KEY=VALUE",
        "n_uds",
        "saving_first",
    ):
        assert word in result.stdout


def test_subprocess_bad_key_is_a_clear_error():
    result = _run("--preset", "small", "n_udz=4")
    assert result.returncode == 2
    assert "unknown config key" in result.stderr and "n_udz" in result.stderr


@pytest.mark.parametrize("policy", POLICY_NAMES)
def test_every_policy_runs_in_process(policy, capsys):
    assert main(["--preset", "small", "--policy", policy, "--seed", "1", "n_slots=3"]) == 0
    out = capsys.readouterr().out
    assert f"policy={policy}" in out
    assert len(_slot_rows(out)) == 3


def test_render_ansi_and_overrides(capsys):
    assert (
        main(
            [
                "--preset",
                "small",
                "--render",
                "ansi",
                "n_uds=4",
                "n_slots=2",
                "matcher=max_gain",
                "es_agents=true",
            ]
        )
        == 0
    )
    out = capsys.readouterr()
    assert "N=4 " in out.out and "matcher=max_gain" in out.out
    for i in range(4):
        assert f"ud_{i}" in out.out
    assert out.out.count("totals:") == 2
    assert "meant for es_agents=False" in out.err  # greedy's own setting was overridden


def test_same_seed_same_output(capsys):
    main(["--preset", "small", "--policy", "random", "--seed", "3"])
    first = capsys.readouterr().out
    main(["--preset", "small", "--policy", "random", "--seed", "3"])
    assert capsys.readouterr().out == first
    main(["--preset", "small", "--policy", "random", "--seed", "4"])
    assert capsys.readouterr().out != first


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["n_uds"], "KEY=VALUE"),
        (["=3"], "KEY=VALUE"),
        (["n_uds=-1"], "'n_uds' got -1"),
        (["matcher=nearest"], "'matcher'"),
        (["--preset", "huge"], "invalid choice: 'huge'"),
        (["--policy", "best"], "invalid choice: 'best'"),
        (["--seed", "x"], "invalid int value"),
        (["--policy", "oracle"], "N <= 12"),  # paper_kb has 48 UDs
        (["render_mode=ansi"], "--render"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("n_uds=24", ("n_uds", 24)),
        ("rho_delay=0.5", ("rho_delay", 0.5)),
        ("task_bytes=[1000, 20000]", ("task_bytes", [1000, 20000])),
        ("es_agents=false", ("es_agents", False)),
        ("es_agents=True", ("es_agents", True)),
        ("render_mode=none", ("render_mode", None)),
        ("matcher=max_gain", ("matcher", "max_gain")),
        (" admission = saving_first ", ("admission", "saving_first")),
    ],
)
def test_parse_override(text, expected):
    assert parse_override(text) == expected
