"""``python -m mec_env``: run one episode with a reference policy and print per-slot metrics.

Examples::

    python -m mec_env                                   # paper_kb, greedy, seed 0
    python -m mec_env --preset small --policy oracle --render ansi
    python -m mec_env --policy all_offload n_uds=24 matcher=max_gain
    python -m mec_env --policy greedy "task_bytes=[1000, 20000]" z_max=[16,8,8]

Trailing ``KEY=VALUE`` arguments override any config key of :mod:`mec_env.config` (values
are read as Python literals: numbers, lists, ``true``/``false``, ``none``; anything else is a
string). The policy's ``env_overrides`` (e.g. greedy: ``es_agents=false
admission=saving_first``) are applied first, so an explicit ``KEY=VALUE`` wins.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from mec_env.adapters.parallel import parallel_env
from mec_env.config import DEFAULT_PRESET, PRESETS
from mec_env.policies import POLICIES, env_overrides_for, make_policy
from mec_env.spec import SLOT_METRICS as _METRICS
from mec_env.spec import slot_metrics

_WORDS = {"true": True, "false": False, "none": None, "null": None}


def parse_override(text: str) -> tuple[str, Any]:
    """``"key=value"`` to ``(key, value)``, the value read as a Python literal if it is one."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(
            f"config overrides are KEY=VALUE, got {text!r} (e.g. n_uds=24 or matcher=max_gain)"
        )
    raw = raw.strip()
    if raw.lower() in _WORDS:
        return key, _WORDS[raw.lower()]
    try:
        return key, ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return key, raw


def _parser() -> argparse.ArgumentParser:
    keys = sorted(PRESETS[DEFAULT_PRESET])
    policies = "\n".join(
        f"  {name:12s} env overrides {env_overrides_for(name) or '{}'}" for name in POLICIES
    )
    epilog = (
        "policies (mec_env.policies.POLICIES, and 'mec_env.policies' entry points):\n"
        + policies
        + "\n\n"
        "config keys for KEY=VALUE (units and ranges in mec_env.config):\n  "
        + " ".join(keys)
        + "\n\n"
        "examples:\n"
        "  python -m mec_env --preset small --policy oracle --render ansi\n"
        "  python -m mec_env --policy all_offload n_uds=24 matcher=max_gain\n"
        "  python -m mec_env --policy greedy es_agents=true 'z_max=[16,8,8]'\n"
    )
    parser = argparse.ArgumentParser(
        prog="python -m mec_env",
        description="Run one episode of the MEC offloading environment with a reference "
        "(non-learning) policy and print per-slot metrics and an episode summary.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        choices=sorted(PRESETS),
        help=f"config preset (default {DEFAULT_PRESET})",
    )
    parser.add_argument(
        "--policy",
        default="greedy",
        choices=POLICIES.available(),
        help="reference policy (default greedy)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of env.reset and of the random policy (default 0)"
    )
    parser.add_argument(
        "--render",
        choices=("ansi", "human"),
        default=None,
        help="also render every slot: 'ansi' prints a table per slot, "
        "'human' opens a matplotlib window (needs mec-env[render])",
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="config overrides, e.g. n_uds=24 matcher=max_gain",
    )
    return parser


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))


def _config(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """The env's config overrides: the policy's ``env_overrides``, then the user's
    ``KEY=VALUE`` (a note on stderr where the user's value differs from the policy's)."""
    user: dict[str, Any] = {}
    for text in args.overrides:
        try:
            key, value = parse_override(text)
        except ValueError as err:
            parser.error(str(err))
        user[key] = value
    if "render_mode" in user:
        parser.error("set the render mode with --render, not render_mode=")
    try:
        meant_for = env_overrides_for(args.policy)
    except ValueError as err:
        parser.error(str(err))
    config = {**meant_for, **user}
    for key, meant in meant_for.items():
        if key in user and user[key] != meant:
            print(
                f"note: policy {args.policy!r} is meant for {key}={meant!r}; using your "
                f"{key}={user[key]!r}",
                file=sys.stderr,
            )
    if args.render:
        config["render_mode"] = args.render
    return config


def _play(env: Any, policy: Any, args: argparse.Namespace) -> list[dict[str, float]]:
    """Play one episode, printing a row of slot metrics per slot; the rows."""
    header = ("slot",) + _METRICS + ("mean_reward",)
    widths = [max(len(h), 8) for h in header]
    observations, _ = env.reset(seed=args.seed)
    if args.render == "ansi":
        print(env.render())
    print(_row(header, widths))
    history: list[dict[str, float]] = []
    while env.agents:
        observations, rewards, _, _, infos = env.step(policy(observations))
        metrics = slot_metrics(infos[env.possible_agents[0]])
        metrics["mean_reward"] = float(np.mean([rewards[a] for a in env.ud_agents]))
        history.append(metrics)
        cells = [str(len(history))]
        cells += [
            str(metrics[k]) if k == "admission_cuts" else f"{metrics[k]:.4f}" for k in header[1:]
        ]
        print(_row(cells, widths))
        if args.render == "ansi":
            print(env.render())
    return history


def _summary(history: list[dict[str, float]]) -> None:
    """Print the episode summary: each metric's mean (the cuts' total) and the return."""
    print("episode summary:")
    for key in _METRICS + ("mean_reward",):
        values = np.array([h[key] for h in history], dtype=np.float64)
        if key == "admission_cuts":
            print(f"  {'admission_cuts (total)':28s} {int(values.sum())}")
        else:
            print(f"  {key + ' (mean)':28s} {values.mean():.4f}")
    episode_return = float(np.sum([h["mean_reward"] for h in history]))
    print(f"  {'return (mean UD reward)':28s} {episode_return:.4f}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (argument errors exit with status 2)."""
    parser = _parser()
    args = parser.parse_args(argv)
    config = _config(parser, args)
    try:
        env = parallel_env(args.preset, **config)
        policy = make_policy(args.policy, env, seed=args.seed)
    except ValueError as err:
        parser.error(str(err))

    cfg = env.config
    print(
        f"mec_env: preset={args.preset} policy={args.policy} seed={args.seed} "
        f"N={cfg.n_uds} M={cfg.n_servers} T={cfg.n_slots} matcher={cfg.matcher} "
        f"admission={'ES agents' if cfg.es_agents else cfg.admission}"
    )
    history = _play(env, policy, args)
    env.close()
    _summary(history)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. piped into `head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
