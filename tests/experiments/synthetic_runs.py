"""Synthetic run directories, shaped like what ``ucms_marl.train`` writes (test helpers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path


def write_run(
    run_dir: Path,
    *,
    algo: str,
    seed: int,
    episodes: int,
    eval_every: int,
    train_value: Callable[[int], dict[str, float]],
    eval_value: Callable[[int], dict[str, float]],
    preset: str = "small",
    n_uds: int | None = None,
    complete: bool = True,
    duplicate_last_eval: bool = False,
) -> Path:
    """One run: config.json, metrics.jsonl and (when ``complete``) summary.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    env_kwargs = {"preset": preset, **({"n_uds": n_uds} if n_uds is not None else {})}
    config = {"algo": algo, "seed": seed, "env_kwargs": env_kwargs, "env": {"preset": preset}}
    (run_dir / "config.json").write_text(json.dumps(config))
    lines = []
    for ep in range(1, episodes + 1):
        lines.append({"phase": "train", "episode": ep, **train_value(ep)})
        if eval_every and ep % eval_every == 0:
            lines.append({"phase": "eval", "episode": ep, **eval_value(ep)})
    if duplicate_last_eval:  # a resumed run evaluates its last episode again
        lines.append({"phase": "eval", "episode": episodes, **eval_value(episodes)})
    text = "".join(json.dumps(rec) + "\n" for rec in lines)
    (run_dir / "metrics.jsonl").write_text(text + '{"phase": "train", "episo')  # a cut line
    if complete:
        (run_dir / "summary.json").write_text(
            json.dumps({"algo": algo, "seed": seed, "episodes": episodes, "wall_time_s": 1.5})
        )
    return run_dir


def metrics(**overrides: float) -> dict[str, float]:
    base = {
        "return": -1.0, "cost": 0.1, "delay_s": 0.1, "energy_j": 0.1, "timeout_rate": 0.1,
        "participation_rate": 0.5, "below_battery_rate": 0.0, "offload_rate": 0.3,
        "admission_cuts": 0.0,
    }  # fmt: skip
    return {**base, **overrides}
