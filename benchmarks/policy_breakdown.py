"""Where a trained UD policy's cost comes from: offloaded, cut, and local UDs, and what each costs.

    python benchmarks/policy_breakdown.py runs/maddpg/paper_kb/quick/seed_0/policy.pt
    python benchmarks/policy_breakdown.py POLICY.pt --episodes 20

Plays the policy deterministically (as evaluation does) on the trainer's fixed evaluation
seeds (``eval_seed + j``, from the config stored in the file) and splits every UD-slot into
four groups: *offloaded* (requested and admitted), *cut* (requested, refused or cut by K or
D_m, so computed locally), *local* (matched but did not request) and *unmatched*. For each
group it prints its share of UD-slots, its mean cost C and timeout rate, and the mean of the
policy's actions (x logit for MADDPG-style actors, f and p as actions in [0, 1]). Under
arrival-order admission (``algo=maddpg``) the groups show whether the UDs learned *who*
should withhold a request (docs/algorithms.md, "What makes MADDPG learn").

Only learners with a deterministic UD ``policy`` (the MADDPG family) on envs without ES agents
(the admission rule decides) are supported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mec_env  # noqa: E402
from ucms_marl.checkpoint import load_policy  # noqa: E402
from ucms_marl.train import build  # noqa: E402

GROUPS = ("offloaded", "cut", "local", "unmatched")


def _summarise(rows: list[tuple]) -> dict[str, dict[str, float]]:
    """Per-group share, cost, timeout rate and mean actions of the played rows."""
    table = {}
    groups = np.array([r[0] for r in rows])
    values = np.array([r[1:] for r in rows], dtype=np.float64)
    for g in GROUPS:
        mask = groups == g
        if mask.any():
            cost, timeout, logit, f, p = values[mask].mean(axis=0)
            table[g] = {"share": float(mask.mean()), "cost": cost, "timeout_rate": timeout,
                        "x_logit": logit, "f": f, "p": p}  # fmt: skip
    table["all"] = {"share": 1.0, "cost": float(values[:, 0].mean()),
                    "timeout_rate": float(values[:, 1].mean())}  # fmt: skip
    return table


def breakdown(path: Path, episodes: int | None = None) -> dict[str, dict[str, float]]:
    """Per-group share, cost, timeout rate and mean actions of the policy file ``path``."""
    pol = load_policy(path)
    cfg = OmegaConf.create(pol["config"])
    learner, env_kwargs, _ = build(cfg)
    if not hasattr(learner, "policy"):
        raise SystemExit(f"{path}: learner {cfg.learner.name!r} has no deterministic UD policy")
    learner.load_policy_state_dict(pol["weights"])
    env = mec_env.parallel_env(**env_kwargs)
    uds = [a for a in env.possible_agents if a.startswith("ud")]
    if len(uds) != len(env.possible_agents):
        raise SystemExit(f"{path}: the env has ES agents; this script plays UD policies only")
    n_episodes = int(cfg.eval_episodes if episodes is None else episodes)
    rows = []
    for j in range(n_episodes):
        obs, _ = env.reset(seed=int(cfg.eval_seed) + j)
        while env.agents:
            o = torch.as_tensor(np.stack([obs[a] for a in uds])[None], dtype=torch.float32)
            with torch.no_grad():
                actions = learner.policy(o)[0].numpy()
                logit = learner.actor(o.transpose(0, 1))[:, 0, 0].numpy()
            step = {a: actions[i] for i, a in enumerate(uds)}
            obs, _, _, _, infos = env.step(step)
            for i, a in enumerate(uds):
                d = infos[a]
                group = ("unmatched" if d["server"] < 0 else "offloaded" if d["offloaded"]
                         else "cut" if d["requested"] else "local")  # fmt: skip
                rows.append((group, d["cost"], d["timed_out"], logit[i], *actions[i, 1:]))
    return _summarise(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("policy", type=Path, help="the policy.pt of a run")
    parser.add_argument("--episodes", type=int, default=None, help="default: eval_episodes")
    args = parser.parse_args()
    table = breakdown(args.policy, args.episodes)
    print(f"{args.policy}: cost per UD-slot by what happened to the UD's task")
    print("| group | share | cost | timeout rate | x logit | f | p |")
    print("|---|---|---|---|---|---|---|")
    for g, r in table.items():
        extra = (f"{r['x_logit']:.2f} | {r['f']:.2f} | {r['p']:.2f}" if "f" in r
                 else "- | - | -")  # fmt: skip
        print(f"| {g} | {r['share']:.3f} | {r['cost']:.4f} | {r['timeout_rate']:.3f} | {extra} |")


if __name__ == "__main__":
    main()
