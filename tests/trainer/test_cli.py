"""The real entry points on tiny budgets: every algorithm, the CLI, multirun, ucms-eval."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ucms_marl.conf
from tests.trainer.helpers import REPO, TINY, algo_overrides, compose_cfg, eval_error, run_cli
from ucms_marl.config import GROUP_SCHEMAS
from ucms_marl.metrics import MEC_KEYS
from ucms_marl.rollout import EPISODE_METRICS
from ucms_marl.train import run

ALGOS = sorted(p.stem for p in (Path(ucms_marl.conf.__file__).parent / "algo").glob("*.yaml"))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("algo", ALGOS)
def test_every_algo_trains_evaluates_and_logs(algo, tmp_path):
    cfg = compose_cfg(algo_overrides(algo))
    summary = run(cfg, tmp_path, algo=algo)
    assert summary["episodes"] == 4
    assert set(summary["eval"]) == set(EPISODE_METRICS)
    records = read_jsonl(tmp_path / "metrics.jsonl")
    train = [r for r in records if r["phase"] == "train"]
    evals = [r for r in records if r["phase"] == "eval"]
    assert [r["episode"] for r in train] == [1, 2, 3, 4]
    assert [r["episode"] for r in evals] == [2, 4]
    assert all(set(MEC_KEYS) <= set(r) for r in train + evals)
    assert 0.0 < evals[-1]["cost"] < 10.0
    assert (tmp_path / "checkpoint.pt").is_file() and (tmp_path / "summary.json").is_file()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    if cfg.learner.name == "maddpg":
        assert summary["updates"] > 0


@pytest.mark.parametrize(
    "extra",
    [
        ["replay=reward_td_priority"],
        ["learner.share_params=true"],
        ["num_envs=3", "episodes=5"],
        ["es_agents=true", "matcher=co_selection"],
        ["env=paper", "env.n_uds=8", "env.n_slots=3"],
        ["env=paper_energy", "env.n_uds=8", "env.n_slots=12", "num_envs=1", "episodes=2"],
    ],
    ids=["reward_td_priority", "share_params", "uneven_num_envs", "es_agents", "paper", "energy"],
)
def test_maddpg_variants(extra, tmp_path):
    summary = run(compose_cfg(["algo=maddpg", *TINY, *extra]), tmp_path, algo="maddpg")
    assert summary["updates"] > 0 and summary["eval"]["cost"] > 0


def test_every_registered_learner_and_replay_has_an_algo_or_override():
    learners = {compose_cfg([f"algo={a}"]).learner.name for a in ALGOS}
    assert learners == set(GROUP_SCHEMAS["learner"])


def test_tensorboard_namespaces(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run(compose_cfg(["algo=maddpg", *TINY]), tmp_path, algo="maddpg")
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    expected = [
        "train/episodic_return", "losses/critic_loss", "losses/actor_loss",
        "perf/env_steps_per_s", "perf/updates_per_s", "eval/cost", "eval/return",
    ]  # fmt: skip
    for tag in expected:
        assert tag in tags, tag
    assert {f"mec/{k}" for k in MEC_KEYS} <= tags
    assert "hparams/text_summary" in acc.Tags()["tensors"]


def test_cli_run_directory_and_evaluate(tmp_path):
    run_cli(["algo=maddpg", *TINY, f"run_root={tmp_path}/runs", "seed=7"], cwd=tmp_path)
    run_dir = tmp_path / "runs" / "maddpg" / "small" / "smoke" / "seed_7"  # algo/env/experiment
    assert (run_dir / "checkpoint.pt").is_file() and (run_dir / "metrics.jsonl").is_file()
    # the same command again refuses to overwrite, and names the fix
    with pytest.raises(AssertionError, match="resume=true"):
        run_cli(["algo=maddpg", *TINY, f"run_root={tmp_path}/runs", "seed=7"], cwd=tmp_path)

    out = run_cli(
        ["--checkpoint", str(run_dir / "checkpoint.pt"), "--episodes", "3", "--json", "e.json"],
        cwd=tmp_path, module="ucms_marl.evaluate",
    )  # fmt: skip
    assert "| cost" in out.stdout
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["episodes"] == 3 and len(result["per_episode"]) == 3
    assert result["checkpoint_episode"] == 4

    run_cli(
        ["algo=greedy", "env=small", "--episodes", "2"], cwd=tmp_path, module="ucms_marl.evaluate"
    )
    heuristic = json.loads((tmp_path / "runs/eval/greedy/small/seed_0.json").read_text())
    assert heuristic["metrics"]["cost"]["mean"] < result["metrics"]["cost"]["mean"] * 2


def test_evaluate_is_reproducible_and_needs_a_checkpoint_for_learners(tmp_path, capsys):
    from ucms_marl import evaluate

    a = evaluate.run_evaluation(
        ["algo=all_local", "env=small", "--episodes", "2", "--json", str(tmp_path / "a.json")]
    )
    b = evaluate.run_evaluation(
        ["algo=all_local", "env=small", "--episodes", "2", "--json", str(tmp_path / "b.json")]
    )
    assert a["per_episode"] == b["per_episode"]
    assert "pass --checkpoint" in eval_error(["algo=maddpg", "env=small"], capsys)


def test_multirun_with_the_joblib_launcher(tmp_path):
    sweep = tmp_path / "sweep"
    run_cli(
        ["-m", "seed=0,1", "algo=maddpg", *TINY, f"hydra.sweep.dir={sweep}",
         "hydra.launcher.n_jobs=2"],
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    # one directory per override set, named by the overrides (hydra.job.override_dirname)
    runs = sorted(sweep.glob("*/summary.json"))
    assert [json.loads(p.read_text())["seed"] for p in runs] == [0, 1]
    assert all("seed=" in p.parent.name and "algo=maddpg" in p.parent.name for p in runs)
    a, b = (read_jsonl(p.parent / "metrics.jsonl") for p in runs)
    assert a != b  # different seeds, different runs


def test_multirun_with_the_submitit_local_launcher(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep = tmp_path / "sweep"
    run_cli(
        ["-m", "hydra/launcher=slurm_local", "seed=3", "algo=greedy", "env=small",
         "experiment=smoke", "progress_bar=false", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, timeout=300,
    )  # fmt: skip
    (summary,) = sweep.glob("*/summary.json")
    assert json.loads(summary.read_text())["seed"] == 3


def test_bad_trainer_values_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="num_envs must be >= 1, got 0"):
        run(compose_cfg(["algo=greedy", "env=small", "num_envs=0"]), tmp_path)
    with pytest.raises(ValueError, match="device must be auto, cpu, cuda or cuda:N"):
        run(compose_cfg(["algo=greedy", "env=small", "device=tpu"]), tmp_path)
    with pytest.raises(ValueError, match="learner.policy='best' is not a mec_env policy"):
        run(compose_cfg(["algo=greedy", "env=small", "learner.policy=best"]), tmp_path)
    with pytest.raises(ValueError, match="unknown matcher|matcher"):
        run(compose_cfg(["algo=greedy", "env=small", "matcher=nearest"]), tmp_path)


def test_cli_ends_with_the_summary_against_the_references(tmp_path):
    out = run_cli(["algo=maddpg", *TINY, f"run_root={tmp_path}/runs"], cwd=tmp_path).stdout
    assert "evaluation cost per UD-slot" in out
    for name in ("maddpg", "greedy", "all_offload", "all_local", "trend:", "checkpoint.pt"):
        assert name in out, name
    summary = json.loads((tmp_path / "runs/maddpg/small/smoke/seed_0/summary.json").read_text())
    assert set(summary["references"]) == {"greedy", "all_offload", "all_local"}
    assert summary["references"]["greedy"]["settings"] == {"admission": "saving_first"}
    assert 0 < summary["references"]["all_local"]["cost"] < 1


@pytest.mark.parametrize(
    ("override", "line"),
    [
        ("learner.critic=central",
         "learner.critic must be one of ['team', 'per_agent', 'decomposed', 'factored'], "
         "got 'central'"),
        ("env.n_uds=-3", "config key 'n_uds' got -3; allowed: an integer >= 1"),
        ("num_envs=0", "num_envs must be >= 1, got 0"),
        ("learner.offload_decision=gumbel",
         "learner.offload_decision must be one of ['threshold', 'relaxed', 'expected'] "
         "('expected' not with learner.critic=factored), got 'gumbel'"),
    ],
    ids=["learner_option", "env_key", "trainer_key", "decision"],
)  # fmt: skip
def test_bad_values_stop_the_cli_with_one_line(override, line, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    proc = subprocess.run(
        [sys.executable, "-m", "ucms_marl.train", "env=small", "experiment=smoke", override],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"ucms-train: error: {line}"]
    assert not list(tmp_path.rglob("metrics.jsonl"))  # nothing was started


def test_evaluate_checkpoint_overrides_are_typed_and_checked(tmp_path, capsys):
    from ucms_marl import evaluate

    run(compose_cfg(["algo=maddpg", *TINY]), tmp_path, algo="maddpg")
    ckpt = str(tmp_path / "checkpoint.pt")
    result = evaluate.run_evaluation(
        ["--checkpoint", ckpt, "--json", str(tmp_path / "e.json"),
         "eval_seed=7", "eval_episodes=3", "learner.critic_hidden=[32,32]"]
    )  # fmt: skip
    assert result["eval_seed"] == 7 and result["episodes"] == 3
    assert len(result["per_episode"]) == 3

    args = evaluate._parse(["--checkpoint", ckpt, "eval_seed=7", "env.n_uds=6",
                            "learner.critic_hidden=[64,64]", "+note='7'"])  # fmt: skip
    cfg, _, _ = evaluate.load_config(args)
    assert cfg.eval_seed == 7 and isinstance(cfg.eval_seed, int)
    assert list(cfg.learner.critic_hidden) == [64, 64] and cfg.env.n_uds == 6
    assert cfg.note == "7"

    for bad, match in (
        ("eval_sed=7", "key 'eval_sed' is not in the checkpoint's config"),
        ("learner.nope=1", "key 'learner.nope' is not in the checkpoint's config"),
        ("env=paper", "'env' is a section of the checkpoint's config"),
        ("+seed=3", "key 'seed' already exists"),
    ):
        assert match in eval_error(["--checkpoint", ckpt, bad], capsys)


def test_evaluate_heuristic_writes_under_the_run_root(tmp_path, capsys):
    from ucms_marl import evaluate

    evaluate.run_evaluation(["algo=all_local", "env=small", "--episodes", "1",
                             f"run_root={tmp_path}/r", "seed=2"])  # fmt: skip
    out = tmp_path / "r" / "eval" / "all_local" / "small" / "seed_2.json"
    assert json.loads(out.read_text())["episodes"] == 1
    assert f"wrote {out}" in capsys.readouterr().err


def test_train_help_shows_user_options_and_no_schemas(tmp_path):
    import re

    text = run_cli(["--help"], cwd=tmp_path).stdout
    assert "_schema" not in text
    assert "ucms_maddpg" in text and "mappo" in text and "seed: 0" in text
    groups = text.split("== Configuration groups")[1].split("== Config (")[0]
    listed = {
        group: set(re.findall(r"\w+", re.sub(r"\(.*?\)", "", body, flags=re.S)))
        for group, body in re.findall(r"^  ([\w/]+)=\s+(.*?)(?=^  [\w/]+=|\Z)", groups, re.M | re.S)
    }
    conf = Path(ucms_marl.conf.__file__).parent
    expected = {
        group: {p.stem for p in (conf / group).glob("*.yaml")}
        for group in ("algo", "env", "experiment", "learner", "replay", "hydra/launcher")
    }
    assert listed == expected  # every option file, nothing else: keep the template in step


def test_evaluate_compares_with_references_on_the_checkpoints_own_settings(tmp_path, capsys):
    from ucms_marl import evaluate
    from ucms_marl.summary import reference_costs

    cfg = compose_cfg(["algo=maddpg", *TINY, "matcher=co_selection", "admission=saving_first"])
    run(cfg, tmp_path, algo="maddpg")
    result = evaluate.run_evaluation(
        ["--checkpoint", str(tmp_path / "policy.pt"), "--episodes", "2"]
    )
    kwargs = result["env_kwargs"]
    assert (kwargs["matcher"], kwargs["admission"]) == ("co_selection", "saving_first")
    assert result["references"] == reference_costs(kwargs, 2, cfg.eval_seed)
    assert "references on the same episodes" in capsys.readouterr().out
