"""Atomic checkpoints, policy files and the process-wide RNG states.

Two files in a run directory, both written to a temporary file in the same directory,
fsynced, then ``os.replace``d over the old one: a run killed at any moment (SIGKILL included)
leaves either the previous file or the new one, never a torn file, and so loses at most one
checkpoint interval.

* ``checkpoint.pt``: everything to resume exactly (config, learner with optimizers and
  targets, replay buffer unless ``save_replay=false``, RNG states).
* ``policy.pt``: only what acting needs (the actors; UCMS's ES Q-network; MAPPO's ES head),
  with the config as JSON: a few hundred KB to a few MB, the file to share or deploy.
  ``ucms-eval --checkpoint`` takes either.

Both load with ``torch.load(..., weights_only=True)``: nothing in them is executed, so a file
received from someone else is safe to open. Numpy arrays (replay storage, the numpy RNG state)
are stored as tensors tagged with their dtype and restored on load; everything else is plain
Python (dicts, lists, tuples, numbers, strings) or tensors.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

POLICY_FORMAT = "ucms_marl.policy/1"  # the "format" entry of a policy file
_NDARRAY = "__ndarray__"  # marks an encoded numpy array: {_NDARRAY: tensor, "dtype": "<f4"}


def rng_states() -> dict[str, Any]:
    """Python, numpy-global and torch RNG states (the learner and replay own generators too)."""
    states = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - third-party code may use it
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])  # noqa: NPY002
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_atomic(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` to ``path`` atomically (temp file + fsync + rename + directory fsync)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def encode(obj: Any) -> Any:
    """``obj`` with every numpy array turned into a tagged tensor and numpy scalars into Python
    numbers, so that ``torch.load(weights_only=True)`` can read it back (:func:`decode`)."""
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        arr = arr if arr.flags.writeable else arr.copy()  # torch.from_numpy wants writeable
        return {_NDARRAY: torch.from_numpy(arr), "dtype": obj.dtype.str}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        return {k: encode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [encode(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(encode(v) for v in obj)
    return obj


def decode(obj: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(obj, dict):
        if _NDARRAY in obj:
            return obj[_NDARRAY].cpu().numpy().astype(np.dtype(obj["dtype"]), copy=False)
        return {k: decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(decode(v) for v in obj)
    return obj


def _load_safe(path: Path, map_location: str | torch.device, what: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"no {what} at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(
            f"{path} is not a {what} this version of ucms_marl writes (it would need full "
            "unpickling, which can run code; files written before checkpoints became "
            "weights_only-safe need `torch.load(path, weights_only=False)`, only if you trust "
            f"the file): {str(exc).splitlines()[0]}"
        ) from None


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A ``checkpoint.pt``, read with ``weights_only=True`` (no code runs)."""
    data = _load_safe(Path(path), map_location, "checkpoint")
    if _is_policy(data):
        raise ValueError(f"{path} is a policy file (actors only), not a resumable checkpoint")
    return decode(data)


def checkpoint_payload(
    *,
    config: Mapping[str, Any],
    algo: str,
    env_kwargs: Mapping[str, Any],
    episode: int,
    updates: int,
    wall_time_s: float,
    learner_state: Mapping[str, Any],
    replay_state: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """What ``checkpoint.pt`` holds, encoded for :func:`save_atomic`."""
    return encode(
        {
            "config": config,
            "algo": algo,
            "env_kwargs": env_kwargs,
            "episode": episode,
            "updates": updates,
            "wall_time_s": wall_time_s,
            "learner": learner_state,
            "replay": replay_state,
            "rng": rng_states(),
        }
    )


def policy_payload(
    *,
    config: Mapping[str, Any],
    algo: str,
    env_kwargs: Mapping[str, Any],
    episode: int,
    weights: Mapping[str, Any],
) -> dict[str, Any]:
    """What ``policy.pt`` holds: the acting weights (tensors) and the rest as one JSON string."""
    meta = {"algo": algo, "config": config, "env_kwargs": env_kwargs, "episode": episode}
    return {
        "format": POLICY_FORMAT,
        "meta": json.dumps(meta, default=str),
        "weights": encode(dict(weights)),
    }


def _is_policy(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == POLICY_FORMAT


def _policy(data: dict) -> dict:
    return {**json.loads(data["meta"]), "weights": decode(data["weights"])}


def load_policy(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """A ``policy.pt``: ``{"algo", "config", "env_kwargs", "episode", "weights"}``."""
    data = _load_safe(Path(path), map_location, "policy file")
    if not _is_policy(data):
        raise ValueError(f"{path} is not a policy file (no format {POLICY_FORMAT!r})")
    return _policy(data)


def load_any(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """A checkpoint or a policy file, whichever ``path`` is; ``"kind"`` says which
    (``checkpoint``: the keys of :func:`checkpoint_payload`; ``policy``: of :func:`load_policy`)."""
    data = _load_safe(Path(path), map_location, "checkpoint or policy file")
    if _is_policy(data):
        return {**_policy(data), "kind": "policy"}
    return {**decode(data), "kind": "checkpoint"}
