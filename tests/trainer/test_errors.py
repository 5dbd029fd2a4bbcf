"""Every mistake a user can make with ucms-train and ucms-eval is one line with exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from tests.trainer.helpers import REPO, TINY, compose_cfg, eval_error
from ucms_marl import checkpoint as ckpt
from ucms_marl.errors import UsageError
from ucms_marl.train import check_config, check_override_keys, run


def cli(args: list[str], cwd, module: str = "ucms_marl.train", prelude: str = ""):
    """Run ``module`` as a command (without HYDRA_FULL_ERROR); ``prelude`` runs first."""
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    code = f"{prelude}import runpy; runpy.run_module({module!r}, run_name='__main__')"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def one_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished TINY MADDPG run: its directory, with checkpoint.pt and policy.pt."""
    run_dir = tmp_path_factory.mktemp("run")
    run(compose_cfg(["algo=maddpg", *TINY]), run_dir, algo="maddpg")
    return run_dir


def test_same_command_twice_changed_config_and_unknown_keys_in_the_cli(tmp_path):
    base = ["algo=greedy", "env=small", "experiment=smoke", "progress_bar=false",
            "references=false", "env.n_uds=6"]  # fmt: skip
    assert cli(base, tmp_path).returncode == 0
    run_dir = tmp_path / "runs" / "greedy" / "small,n_uds=6" / "smoke" / "seed_0"  # named
    assert (run_dir / "checkpoint.pt").is_file()
    assert one_line(cli(base, tmp_path)) == (
        f"ucms-train: error: {run_dir.resolve()}/checkpoint.pt exists: continue that run with "
        f"resume=true (add episodes=... to extend it), or start another in a new directory "
        f"(seed=..., run_root=... or hydra.run.dir=...)"
    )
    changed = one_line(cli([*base, "resume=true", "eval_seed=5"], tmp_path))
    assert "checkpoint.pt's in eval_seed: 1000000 -> 5; only episodes," in changed
    assert one_line(cli([*base, "+episods=2"], tmp_path)) == (
        "ucms-train: error: override '+episods=2': 'episods' is not a config key (did you mean "
        "episodes? `ucms-train --help` lists the keys)"
    )
    assert "is_null" not in one_line(cli(["algo=oracle", "env=paper_kb"], tmp_path))


@pytest.mark.parametrize(
    ("override", "hint"),
    [("episods=2", "did you mean episodes?"), ("+episods=2", "did you mean episodes?"),
     ("learner.lr_actr=1", "did you mean learner.lr_actor?"),
     ("env.n_udss=3", "did you mean env.n_uds?"), ("foo.bar=1", "'foo' is not a config key")],
)  # fmt: skip
def test_unknown_keys_suggest_the_nearest(override, hint):
    with pytest.raises(UsageError, match=r"is not a config key") as info:
        check_override_keys([override])
    assert hint in str(info.value)
    check_override_keys(["episodes=2", "env.n_uds=3", "learner.lr_actor=1", "hydra.job.chdir=1"])


def test_the_oracle_above_its_size_is_refused_before_the_run():
    with pytest.raises(UsageError, match=r"supports N <= 12 UDs, got n_uds=48"):
        check_config(compose_cfg(["algo=oracle", "env=paper_kb"]))


def test_eval_refuses_bad_values_and_damaged_files_in_one_line(trained, tmp_path, capsys):
    assert eval_error(["algo=greedy", "env=small", "env.n_uds=-3"], capsys) == (
        "ucms-eval: error: config key 'n_uds' got -3; allowed: an integer >= 1"
    )
    data = (trained / "checkpoint.pt").read_bytes()
    files = {
        "truncated": data[: len(data) // 2],
        "empty": b"",
        "text": b"garbage, not a checkpoint\n",
        "random": np.random.default_rng(0).bytes(4096),
    }
    expected = {
        "truncated": "the archive is truncated or damaged",
        "empty": "is empty (0 bytes",
        "text": "not a file torch.save wrote",
        "random": "not a file torch.save wrote",
    }
    for name, content in files.items():
        (tmp_path / f"{name}.pt").write_bytes(content)
        line = eval_error(["--checkpoint", str(tmp_path / f"{name}.pt")], capsys)
        assert expected[name] in line and "weights_only=False" not in line, line


def test_garbage_policy_and_bit_flips_are_refused(trained, tmp_path, capsys):
    policy = torch.load(trained / "policy.pt", weights_only=True)
    garbage = ckpt.sealed({**policy, "weights": {"101": torch.zeros(3)}})  # a valid checksum
    torch.save(garbage, tmp_path / "garbage.pt")
    line = eval_error(["--checkpoint", str(tmp_path / "garbage.pt")], capsys)
    assert "weights do not fit the networks of its own config" in line

    state = torch.load(trained / "checkpoint.pt", weights_only=True)
    next(iter(state["learner"]["actor"].values())).view(-1)[0] += 1e-6  # one value changed
    torch.save(state, tmp_path / "flipped.pt")
    line = eval_error(["--checkpoint", str(tmp_path / "flipped.pt")], capsys)
    assert line == (
        f"ucms-eval: error: {tmp_path / 'flipped.pt'} fails its checksum (the file was changed "
        f"or damaged after it was written): use an intact copy, or train the run again"
    )
    with pytest.raises(UsageError, match="fails its checksum"):
        ckpt.load(tmp_path / "flipped.pt")


@pytest.mark.parametrize(
    ("module", "prog"), [("ucms_marl.train", "ucms-train"), ("ucms_marl.evaluate", "ucms-eval")]
)
def test_a_core_only_install_names_the_train_extra(module, prog, tmp_path):
    proc = cli([], tmp_path, module=module, prelude="import sys; sys.modules['hydra'] = None; ")
    assert one_line(proc) == (
        f"{prog}: error: {prog} needs the trainer's dependencies (hydra not installed); "
        f'install them with: pip install "mec-env[train]"'
    )
