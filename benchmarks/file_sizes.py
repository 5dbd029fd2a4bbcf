"""How large are a run's files? checkpoint.pt (with and without the replay) and policy.pt.

    python benchmarks/file_sizes.py             # the main job's UCMS_MADDPG, MADDPG and MAPPO
    python benchmarks/file_sizes.py --algos maddpg --episodes 2000 --env paper_kb

For each algorithm it builds the learner of ``ucms-train algo=<algo> env=<env>`` (the
defaults), fills the replay buffer as a run of ``--episodes`` episodes does (one row per slot,
at most ``replay.capacity``; each step's observations are the previous step's next
observations, as in a real episode, so the checkpoint stores them once), writes the three
files exactly as the trainer does (``ucms_marl.checkpoint``) into a temporary directory and
prints their sizes. The sizes do not depend on what the networks learned, only on their shapes,
the number of replay rows and the episodes' length (and the optimizers' moments, allocated by
one zero-gradient step), so the table is the size of the real run's files at that episode
(checked against a real 40-episode run: the same bytes to within the pickle overhead).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mec_env.config import make_config  # noqa: E402
from ucms_marl import checkpoint as ckpt  # noqa: E402
from ucms_marl.paths import CHECKPOINT_NAME, POLICY_NAME  # noqa: E402
from ucms_marl.train import build, replay_for  # noqa: E402

MIB = 1024**2


def _allocate_optimizer_state(learner: object) -> None:
    """One Adam step with zero gradients: the moments a trained learner's optimizers hold
    (and its checkpoint stores) exist, the weights do not change."""
    for opt in vars(learner).values():
        if isinstance(opt, torch.optim.Optimizer):
            for group in opt.param_groups:
                for p in group["params"]:
                    p.grad = torch.zeros_like(p)
            opt.step()
            opt.zero_grad(set_to_none=True)


def fill(replay: object, spec: dict, n_slots: int, rows: int) -> None:
    """Add ``rows`` rows to ``replay`` one step at a time, in episodes of ``n_slots`` steps:
    random observations (so no two differ by chance), each step's ``x`` the previous step's
    ``next_x``; the other fields zero."""
    rng = np.random.default_rng(0)
    for start in range(0, rows, n_slots):
        steps = min(n_slots, rows - start)
        fields = {k: np.zeros((steps, 1, *shape), dtype) for k, (shape, dtype) in spec.items()}
        for key, (shape, dtype) in spec.items():
            if f"next_{key}" in spec:  # an episode's steps + 1 observations, shifted by one
                seq = rng.integers(0, 2**15, size=(steps + 1, 1, *shape)).astype(dtype)
                fields[key], fields[f"next_{key}"] = seq[:-1], seq[1:]
        for t in range(steps):
            replay.add({k: v[t] for k, v in fields.items()})


def sizes(algo: str, env: str, episodes: int) -> dict[str, float]:
    with initialize_config_module("ucms_marl.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"algo={algo}", f"env={env}", "device=cpu"])
    learner, env_kwargs, probe = build(cfg)
    config = OmegaConf.to_container(cfg, resolve=True)
    replay_state, rows = None, 0
    if learner.is_learning and not learner.on_policy:
        replay = replay_for(cfg, learner)
        kwargs_env = {k: v for k, v in env_kwargs.items() if k != "preset"}
        n_slots = make_config(env_kwargs["preset"], **kwargs_env).n_slots
        rows = min(episodes * n_slots, int(cfg.replay.capacity))
        fill(replay, learner.transition_spec(), n_slots, rows)
        replay_state = replay.state_dict()
    probe.close()
    _allocate_optimizer_state(learner)
    out = {"replay rows": rows}
    with tempfile.TemporaryDirectory() as tmp:
        common = {"config": config, "algo": algo, "env_kwargs": env_kwargs, "episode": episodes}
        for name, replay_part in (
            ("checkpoint.pt", replay_state),
            ("checkpoint.pt, save_replay=false", None),
        ):
            path = Path(tmp) / CHECKPOINT_NAME
            ckpt.save_atomic(
                ckpt.checkpoint_payload(
                    **common, updates=0, wall_time_s=0.0,
                    learner_state=learner.state_dict(), replay_state=replay_part,
                ),
                path,
            )  # fmt: skip
            out[name] = path.stat().st_size / MIB
        if learner.is_learning:
            path = Path(tmp) / POLICY_NAME
            ckpt.save_atomic(
                ckpt.policy_payload(**common, weights=learner.policy_state_dict()), path
            )
            out["policy.pt"] = path.stat().st_size / MIB
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["ucms_maddpg", "maddpg", "mappo"])
    parser.add_argument("--env", default="paper_kb")
    parser.add_argument("--episodes", type=int, default=1000, help="default: the quick budget")
    args = parser.parse_args(argv)
    cols = ["replay rows", "checkpoint.pt", "checkpoint.pt, save_replay=false", "policy.pt"]
    print(f"# file sizes after {args.episodes} episodes on {args.env} (MiB)")
    print("| algo | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for algo in args.algos:
        row = sizes(algo, args.env, args.episodes)
        cells = [
            str(row[c]) if c == "replay rows" else (f"{row[c]:.2f}" if c in row else "–")
            for c in cols
        ]
        print(f"| {algo} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
