"""Do the learners learn? Final evaluation cost over seeds, next to the references.

    python benchmarks/learning_check.py                       # every check, 5 seeds
    python benchmarks/learning_check.py --checks maddpg_saving_first small_ucms --seeds 0 1
    python benchmarks/learning_check.py --json results.json --list

Each *check* is one training setting (an algorithm, an env and a budget, as ``ucms-train``
overrides) and a target cost. For every seed it trains with the trainer's own ``run`` (the
learner's defaults, nothing tuned here), reads the evaluation curve from ``metrics.jsonl``,
and then evaluates the reference heuristics (``greedy``, ``all_offload``, ``all_local``, and
the exact per-slot ``oracle`` on ``small``) on the same settings and the same fixed
evaluation seeds (each heuristic with the admission it is defined with: ``greedy`` with
``saving_first``, ``all_offload`` with arrival order). It prints one row per check: the
final cost's mean over seeds with a 95 % t-interval, each seed's final cost, the mean
best-evaluation cost and the share of seeds whose final cost is within 10 % of their own
best (no collapse), whether the curve went down (first evaluation vs last, every seed), the
references, and the target. One process, one
torch thread; the wall time of every run is recorded.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hydra import compose, initialize_config_module  # noqa: E402

from ucms_marl import summary as run_summary  # noqa: E402
from ucms_marl.learners import LEARNERS  # noqa: E402
from ucms_marl.train import env_kwargs_for, run  # noqa: E402


@dataclass(frozen=True)
class Check:
    overrides: tuple[str, ...]
    target: float  # the final mean cost the issue asks for (lower is better)
    what: str


CHECKS: dict[str, Check] = {
    "maddpg": Check(
        ("algo=maddpg", "env=paper_kb", "episodes=1000", "eval_every=100"),
        0.086,
        "paper_kb, max_gain + accept_all: <= 0.086 and below all_offload",
    ),
    "maddpg_saving_first": Check(
        ("algo=maddpg", "admission=saving_first", "env=paper_kb", "episodes=300", "eval_every=50"),
        0.052,
        "paper_kb, max_gain + saving_first, 3,000 env-steps: <= 0.052",
    ),
    "ucms_maddpg": Check(
        ("algo=ucms_maddpg", "env=paper_kb", "episodes=1000", "eval_every=100"),
        0.055,
        "paper_kb, co_selection + learned ES: <= 0.055 (goal: <= greedy)",
    ),
    "ucms_mappo": Check(
        ("algo=ucms_mappo", "env=paper_kb", "episodes=1000", "eval_every=200"),
        0.055,
        "paper_kb, MAPPO with learned ES admission: <= 0.055 (goal: <= greedy)",
    ),
    "small_maddpg_saving_first": Check(
        ("algo=maddpg", "admission=saving_first", "env=small", "episodes=600", "eval_every=100"),
        0.0467,
        "small: best learner within 5 % of the oracle (0.0445)",
    ),
    "mappo": Check(
        ("algo=mappo", "env=paper_kb", "episodes=1600", "eval_every=200"),
        0.086,
        "paper_kb, max_gain + accept_all: MAPPO <= 0.086 (the peer MAPPO's figure)",
    ),
    "small_ucms": Check(
        ("algo=ucms_maddpg", "env=small", "episodes=600", "eval_every=100"),
        0.0490,
        "small: UCMS within 10 % of the oracle (0.0445)",
    ),
}
FIXED = ("progress_bar=false", "torch_threads=1", "checkpoint_every=0", "save_replay=false",
         "references=false")  # fmt: skip


def compose_cfg(overrides: list[str]):
    with initialize_config_module("ucms_marl.conf", version_base="1.3"):
        return compose("config", overrides=overrides)


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95 % t-interval over seeds (the interval collapses to the mean for one seed)."""
    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean())
    if len(x) < 2:
        return mean, mean, mean
    half = float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x)))
    return mean, mean - half, mean + half


def run_check(name: str, check: Check, seeds: list[int], workdir: Path) -> dict:
    runs = []
    for seed in seeds:
        cfg = compose_cfg([*check.overrides, *FIXED, f"seed={seed}"])
        t0 = time.perf_counter()
        summary = run(cfg, workdir / name / f"seed_{seed}", algo=name)
        curve = run_summary.eval_curve(summary["run_dir"])
        runs.append({"seed": seed, "final": summary["eval"]["cost"], "curve": curve,
                     "wall_s": time.perf_counter() - t0, "updates": summary["updates"],
                     "offload_rate": summary["eval"]["offload_rate"]})  # fmt: skip
        points = [round(c, 4) for _, c in curve]
        print(f"  {name} seed {seed}: final {runs[-1]['final']:.4f}, curve {points}, "
              f"{runs[-1]['wall_s']:.0f} s", flush=True)  # fmt: skip
    cfg = compose_cfg([*check.overrides, *FIXED])
    env_kwargs = env_kwargs_for(cfg, LEARNERS.get(cfg.learner.name))
    policies = ["greedy", "all_offload", "all_local"]
    if cfg.env.preset == "small":
        policies.append("oracle")
    refs = run_summary.reference_costs(env_kwargs, cfg.eval_episodes, cfg.eval_seed, policies)
    finals = [r["final"] for r in runs]
    best = [min(c for _, c in r["curve"]) for r in runs]
    return {
        "check": name, "what": check.what, "target": check.target,
        "overrides": list(check.overrides), "seeds": seeds,
        "final": interval(finals), "best_mean": float(np.mean(best)),
        "no_collapse": sum(f <= 1.1 * b for f, b in zip(finals, best, strict=True)),
        "went_down": sum(r["curve"][-1][1] < r["curve"][0][1] for r in runs),
        "references": {k: v["cost"] for k, v in refs.items()},
        "runs": runs,
    }  # fmt: skip


def format_rows(results: list[dict]) -> str:
    lines = [
        "| check | final cost, mean [95% CI] | per seed | best (mean) | final within 10% of "
        "best | curve went down | greedy (+ saving_first) | all_offload (+ accept_all) | "
        "all_local | oracle | target | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        mean, lo, hi = r["final"]
        n = len(r["seeds"])
        ref = r["references"]
        oracle = f"{ref['oracle']:.4f}" if "oracle" in ref else "-"
        per_seed = ", ".join(f"{x['final']:.4f}" for x in r["runs"])
        lines.append(
            f"| {r['check']} | {mean:.4f} [{lo:.4f}, {hi:.4f}] | {per_seed} | "
            f"{r['best_mean']:.4f} | {r['no_collapse']}/{n} | {r['went_down']}/{n} | "
            f"{ref['greedy']:.4f} | {ref['all_offload']:.4f} | {ref['all_local']:.4f} | "
            f"{oracle} | <= {r['target']} | {'yes' if mean <= r['target'] else 'no'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", nargs="+", default=list(CHECKS), choices=list(CHECKS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--workdir", type=Path, default=None, help="run directories (temp)")
    parser.add_argument("--list", action="store_true", help="print the checks and exit")
    args = parser.parse_args()
    if args.list:
        for name, check in CHECKS.items():
            print(f"{name}: {check.what}\n    ucms-train {' '.join(check.overrides)}")
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="learning_check_"))
    results = []
    for name in args.checks:
        results.append(run_check(name, CHECKS[name], args.seeds, workdir))
        if args.json is not None:  # after every check, so a long run loses nothing
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2))
    print(format_rows(results))


if __name__ == "__main__":
    main()
