"""``python -m ucms_marl.evaluate`` (``ucms-eval``): evaluate a checkpoint or a heuristic.

    ucms-eval --checkpoint runs/maddpg/paper_kb/quick/seed_0/checkpoint.pt --episodes 50
    ucms-eval --checkpoint runs/maddpg/paper_kb/quick/seed_0/policy.pt      # the same policy
    ucms-eval algo=greedy env=paper_kb --episodes 50
    ucms-eval algo=oracle env=small --episodes 20 --json oracle.json

Plays E noise-free episodes on the fixed evaluation seeds (episode j is reset with
``eval_seed + j``, the same set the trainer uses), prints a table of every MEC metric (mean,
std, min, max over episodes) and writes a JSON file with the table and every episode.
Trailing ``key=value`` arguments are Hydra overrides of the training config (with a
checkpoint: applied to the config stored in it, e.g. ``eval_seed=7`` or ``env.n_uds=12``;
values are typed as Hydra types them, and the key must exist there unless given as ``+key=``).
``--checkpoint`` takes a run's ``checkpoint.pt`` or its much smaller ``policy.pt`` (actors
only); both are read with ``torch.load(weights_only=True)``, so no code in them runs.
Without ``--json`` the file is ``eval.json`` next to the checkpoint, or for a heuristic
``<run_root>/eval/<algo>/<env>[,<settings>]/seed_<seed>.json`` (``run_root`` defaults to
``runs``; the settings suffix names env, matcher and admission overrides, as run folders do).
With a checkpoint, the reference heuristics ``greedy``, ``all_offload`` and ``all_local`` are
played on the same episodes with the checkpoint's own matcher and admission and printed below
the table (``--no-references`` skips them). A mistake (a bad value, an unreadable or damaged
file) is one line, ``ucms-eval: error: ...``, with exit status 2; ``--debug`` (or
``HYDRA_FULL_ERROR=1``) shows the traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ucms_marl.errors import UsageError, debug_requested, exit_with, require_train_extra

try:
    from hydra import compose, initialize_config_module
except ModuleNotFoundError:  # a core-only install (``pip install mec-env``)
    require_train_extra("ucms-eval", cli=__name__ == "__main__")
    raise

import numpy as np
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from ucms_marl import checkpoint as ckpt
from ucms_marl.paths import settings_suffix
from ucms_marl.rollout import EPISODE_METRICS, evaluate, make_vector_env
from ucms_marl.train import (
    build,
    check_config,
    check_override_keys,
    seed_everything,
    upgraded_config,
)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ucms-eval", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--checkpoint", type=Path, help="checkpoint.pt or policy.pt of a training run"
    )
    parser.add_argument(
        "--episodes", type=int, default=None, help="episodes (default: eval_episodes)"
    )
    parser.add_argument("--json", type=Path, default=None, help="output file (default: see docs)")
    parser.add_argument("--num-envs", type=int, default=None, help="env copies stepped together")
    parser.add_argument(
        "--no-references", dest="references", action="store_false",
        help="with --checkpoint: skip the reference heuristics on the same episodes",
    )  # fmt: skip
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. algo=greedy env=small")
    return parser.parse_intermixed_args(argv)  # overrides may come before or after options


class OverrideError(UsageError):
    """An override that cannot be applied to the config stored in a checkpoint."""


_ABSENT = object()


def _has_key(cfg: Any, key: str) -> bool:
    try:
        return OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=True) is not _ABSENT
    except MissingMandatoryValue:  # the key is there, its value is ``???``
        return True


def _parse_override(parser: OverridesParser, item: str) -> Any:
    """One ``key=value``, ``+key=value`` or ``++key=value`` override, parsed by Hydra."""
    try:
        (override,) = parser.parse_overrides([item])
    except HydraException as exc:
        raise OverrideError(f"override {item!r}: {str(exc).strip().splitlines()[0]}") from exc
    if override.is_delete() or override.is_sweep_override() or override.package is not None:
        raise OverrideError(
            f"override {item!r}: with --checkpoint only key=value, +key=value and "
            f"++key=value are supported"
        )
    return override


def _unknown_key(cfg: DictConfig, item: str, key: str) -> OverrideError:
    """The error for an override of a key the stored config lacks, naming its section's keys."""
    parent, _, _ = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    where = f"{parent}'s keys" if parent else "its keys"
    known = (
        f" ({where}: {', '.join(sorted(map(str, node.keys())))})"
        if isinstance(node, DictConfig)
        else ""
    )
    return OverrideError(
        f"override {item!r}: key {key!r} is not in the checkpoint's config{known}; "
        f"use +{key}=... to add a new key"
    )


def apply_overrides(cfg: DictConfig, overrides: Sequence[str]) -> None:
    """Apply Hydra-style ``key=value`` overrides to a stored (plain) config, in place.

    Values are parsed by Hydra's override grammar, so ``eval_seed=7`` gives the int 7,
    ``env.x=[1,2]`` a list and ``seed='7'`` the string. ``key=value`` must name a key of
    the stored config; ``+key=value`` adds a new one and ``++key=value`` sets or adds."""
    parser = OverridesParser.create()
    for item in overrides:
        override = _parse_override(parser, item)
        key = override.key_or_group
        exists = _has_key(cfg, key)
        if override.is_add() and exists:
            raise OverrideError(f"override {item!r}: key {key!r} already exists; drop the '+'")
        if not (override.is_add() or override.is_force_add()) and not exists:
            raise _unknown_key(cfg, item, key)
        value = override.value()
        if (
            exists
            and isinstance(OmegaConf.select(cfg, key), DictConfig)
            and not isinstance(value, dict)
        ):
            raise OverrideError(
                f"override {item!r}: {key!r} is a section of the checkpoint's config (a group "
                f"such as env or algo cannot be switched); set its keys, e.g. {key}.<name>=..."
            )
        OmegaConf.update(cfg, key, value, merge=False, force_add=True)


def load_config(args: argparse.Namespace) -> tuple[Any, str, dict | None]:
    """The config to evaluate, the algorithm's name, and the checkpoint (or None)."""
    if args.checkpoint is not None:
        state = ckpt.load_any(args.checkpoint)
        cfg = OmegaConf.create(upgraded_config(state["config"]))
        apply_overrides(cfg, args.overrides)
        return cfg, state.get("algo", "checkpoint"), state
    check_override_keys(args.overrides)
    try:
        with initialize_config_module("ucms_marl.conf", version_base="1.3"):
            with_hydra = compose("config", overrides=list(args.overrides), return_hydra_config=True)
            cfg = compose("config", overrides=list(args.overrides))
    except HydraException as exc:
        raise UsageError(" ".join(str(exc).split())) from exc
    return cfg, with_hydra.hydra.runtime.choices.get("algo", "custom"), None


def summarise(episodes: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    table = {}
    for key in EPISODE_METRICS:
        values = np.array([e[key] for e in episodes], dtype=np.float64)
        table[key] = {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
        }
    return table


def format_table(table: dict[str, dict[str, float]], title: str) -> str:
    lines = [title, f"| {'metric':<20} | {'mean':>10} | {'std':>10} | {'min':>10} | {'max':>10} |"]
    lines.append(f"|{'-' * 22}|{'-' * 12}|{'-' * 12}|{'-' * 12}|{'-' * 12}|")
    for key, row in table.items():
        cells = " | ".join(f"{row[c]:>10.5g}" for c in ("mean", "std", "min", "max"))
        lines.append(f"| {key:<20} | {cells} |")
    return "\n".join(lines)


def load_learner(cfg: Any, state: dict | None, path: Path | None) -> tuple[Any, dict[str, Any]]:
    """The learner of ``cfg`` (checked first, as ``ucms-train`` checks it) with the weights of
    ``state`` loaded, and the env kwargs; a heuristic needs no state, a learner does."""
    check_config(cfg)
    learner, env_kwargs, probe = build(cfg)
    probe.close()
    if state is None:
        if learner.is_learning:
            raise UsageError(
                f"learner {cfg.learner.name!r} learns; pass --checkpoint (a heuristic such as "
                f"algo=greedy needs none)"
            )
        return learner, env_kwargs
    try:
        if state["kind"] == "policy":
            learner.load_policy_state_dict(state["weights"])
        else:
            learner.load_state_dict(state["learner"])
    except (KeyError, RuntimeError, ValueError, TypeError, AttributeError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise UsageError(
            f"{path}'s weights do not fit the networks of its own config "
            f"({type(exc).__name__}: {first}); the file was damaged or edited, or an override "
            f"changed a network size: use the run's other file or another copy"
        ) from None
    return learner, env_kwargs


def output_path(args: argparse.Namespace, cfg: Any, algo: str) -> Path:
    """``--json``, else ``eval.json`` next to the checkpoint, else
    ``<run_root>/eval/<algo>/<env><settings>/seed_<seed>.json`` for a heuristic."""
    if args.json is not None:
        return args.json
    if args.checkpoint is not None:
        return args.checkpoint.parent / "eval.json"
    run_root = Path(str(cfg.get("run_root") or "runs"))
    env = f"{cfg.env.preset}{settings_suffix(args.overrides)}"
    return run_root / "eval" / algo / env / f"seed_{cfg.seed}.json"


def format_references(cost: float, refs: dict[str, dict[str, Any]]) -> str:
    """The reference heuristics' costs next to the evaluated policy's (summary's wording)."""
    from ucms_marl.summary import comparison

    lines = ["references on the same episodes (the checkpoint's matcher and admission):"]
    for name, ref in sorted(refs.items(), key=lambda item: item[1]["cost"]):
        note = ", ".join(f"{k}={v}" for k, v in ref.get("settings", {}).items())
        lines.append(f"  {name:<12} {ref['cost']:.4f}{'  (' + note + ')' if note else ''}")
    lines.append(comparison(cost, refs))
    return "\n".join(lines)


def evaluate_args(args: argparse.Namespace) -> dict[str, Any]:
    """Evaluate what ``args`` name, print the table (and the references), write the JSON."""
    from ucms_marl.summary import reference_costs

    cfg, algo, state = load_config(args)
    seed_everything(cfg.seed, cfg.torch_threads)
    learner, env_kwargs = load_learner(cfg, state, args.checkpoint)
    n_episodes = args.episodes if args.episodes is not None else cfg.eval_episodes
    if n_episodes < 1:
        raise UsageError(f"--episodes must be >= 1, got {n_episodes}")
    envs = make_vector_env(env_kwargs, args.num_envs or max(1, min(cfg.num_envs, n_episodes)))
    envs.seed_action_spaces(cfg.seed + 1)
    episodes = evaluate(envs, learner, n_episodes, cfg.eval_seed)
    table = summarise(episodes)
    source = str(args.checkpoint) if args.checkpoint else "heuristic"
    seeds = f"{cfg.eval_seed}..{cfg.eval_seed + n_episodes - 1}"
    title = f"# {algo} on {cfg.env.preset} ({source}), {n_episodes} episodes, eval seeds {seeds}"
    print(format_table(table, title))
    refs = None
    if state is not None and args.references:
        refs = reference_costs(env_kwargs, n_episodes, cfg.eval_seed)
        print(format_references(table["cost"]["mean"], refs))
    result = {
        "algo": algo, "source": source, "env_kwargs": env_kwargs, "episodes": n_episodes,
        "eval_seed": int(cfg.eval_seed), "metrics": table, "per_episode": episodes,
        "checkpoint_episode": state["episode"] if state is not None else None,
        "references": refs,
    }  # fmt: skip
    out = output_path(args, cfg, algo)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {out}", file=sys.stderr)
    return result


def run_evaluation(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse ``argv`` (the CLI's arguments), evaluate, print, write JSON; returns the result.
    A :class:`UsageError` ends it with one line and exit status 2 (unless ``--debug``)."""
    args = _parse(argv)
    try:
        return evaluate_args(args)
    except UsageError as exc:
        if args.debug or debug_requested():
            raise
        exit_with("ucms-eval", exc)


def main(argv: Sequence[str] | None = None) -> None:
    """Console script ``ucms-eval``."""
    run_evaluation(argv)


if __name__ == "__main__":
    main()
