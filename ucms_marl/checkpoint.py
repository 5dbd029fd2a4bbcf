"""Atomic checkpoints, policy files and the process-wide RNG states.

Two files in a run directory, both written to a temporary file in the same directory,
fsynced, then ``os.replace``d over the old one: a run killed at any moment (SIGKILL included)
leaves either the previous file or the new one, never a torn file, and so loses at most one
checkpoint interval.

* ``checkpoint.pt``: everything to resume exactly (config, learner with optimizers and
  targets, replay buffer unless ``save_replay=false``, RNG states, the best evaluation so far
  with its policy).
* ``policy.pt``: only what acting needs (the actors; UCMS's ES Q-network; MAPPO's ES head),
  with the config as JSON: a few hundred KB to a few MB, the file to share or deploy.
  ``policy_best.pt``, the same format, holds the policy of the run's best evaluation.
  ``ucms-eval --checkpoint`` takes any of them.

Both load with ``torch.load(..., weights_only=True)``: nothing in them is executed, so a file
received from someone else is safe to open. Numpy arrays (replay storage, the numpy RNG state)
are stored as tensors tagged with their dtype and restored on load; everything else is plain
Python (dicts, lists, tuples, numbers, strings) or tensors.

Each file carries a SHA-256 checksum of its content (every key, value and tensor byte), checked
on load: a truncated, bit-flipped or foreign file is refused with a
:class:`CheckpointError` (a :class:`~ucms_marl.errors.UsageError`: one line naming the file
and what to do), never loaded into a run.
"""

from __future__ import annotations

import hashlib
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

from ucms_marl.errors import UsageError

POLICY_FORMAT = "ucms_marl.policy/1"  # the "format" entry of a policy file
CHECKSUM_KEY = "sha256"  # the payload's checksum, over everything else in it (:func:`digest`)
_NDARRAY = "__ndarray__"  # marks an encoded numpy array: {_NDARRAY: tensor, "dtype": "<f4"}
CHECKPOINT_KEYS = ("config", "algo", "env_kwargs", "episode", "updates", "wall_time_s",
                   "learner", "replay", "rng")  # fmt: skip


class CheckpointError(UsageError):
    """A checkpoint or policy file that cannot be used: missing, unreadable, corrupt, foreign."""


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


def remove_stale_temp_files(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of :func:`save_atomic` writes that were killed
    (``.checkpoint.pt.*.tmp``, ``.policy.pt.*.tmp``) in ``run_dir``; returns them."""
    stale = sorted(Path(run_dir).glob(".*.pt.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def _digest_into(h: Any, obj: Any) -> None:
    if isinstance(obj, torch.Tensor):
        flat = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{flat.dtype}{tuple(obj.shape)}".encode())
        h.update(flat.view(torch.uint8).numpy().data)
    elif isinstance(obj, Mapping):
        h.update(f"D{len(obj)}".encode())
        for key, value in obj.items():
            h.update(repr(key).encode())
            _digest_into(h, value)
    elif isinstance(obj, list | tuple):
        h.update(f"{type(obj).__name__[0]}{len(obj)}".encode())
        for value in obj:
            _digest_into(h, value)
    else:
        h.update(f"{type(obj).__name__}:{obj!r}".encode())


def digest(payload: Mapping[str, Any]) -> str:
    """SHA-256 of an encoded payload's content, its checksum entry left out: every key, every
    scalar and every tensor's dtype, shape and bytes, in order."""
    h = hashlib.sha256()
    _digest_into(h, {k: v for k, v in payload.items() if k != CHECKSUM_KEY})
    return h.hexdigest()


def sealed(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with its checksum (:func:`digest`), as written to a file."""
    return {**payload, CHECKSUM_KEY: digest(payload)}


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


_FIX = "use an intact copy, or train the run again"


def _load_safe(path: Path, map_location: str | torch.device, what: str) -> dict[str, Any]:
    """The payload of ``path`` read with ``weights_only=True``, its checksum verified; any
    failure is a :class:`CheckpointError` naming the file."""
    if not path.is_file():
        raise CheckpointError(f"no {what} at {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes; a write was cut short?): {_FIX}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged or foreign file
        raise CheckpointError(
            f"{path} is not a {what} ucms_marl can read: {_why(path, exc)}"
        ) from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} holds a {type(data).__name__}, not a {what}: {_FIX}")
    if CHECKSUM_KEY in data and data[CHECKSUM_KEY] != digest(data):
        raise CheckpointError(
            f"{path} fails its checksum (the file was changed or damaged after it was "
            f"written): {_FIX}"
        )
    return data


def _why(path: Path, exc: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, and what to do, in a few words."""
    with path.open("rb") as f:
        is_zip = f.read(4) == b"PK\x03\x04"  # torch.save writes a zip archive
    if not is_zip:
        return f"it is not a file torch.save wrote (random data, text, or a damaged start): {_FIX}"
    if isinstance(exc, pickle.UnpicklingError):
        return (
            "it holds Python objects that loading would have to run, which ucms_marl never "
            "writes; open it with torch.load(weights_only=False) only if you wrote it yourself"
        )
    return f"the archive is truncated or damaged (a copy or a write was cut short?): {_FIX}"


def _check_checkpoint(data: dict[str, Any], path: Path) -> None:
    missing = [k for k in CHECKPOINT_KEYS if k not in data]
    if missing:
        raise CheckpointError(
            f"{path} is not a ucms-train checkpoint (it lacks {', '.join(missing)}): {_FIX}"
        )


def load(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A ``checkpoint.pt``, read with ``weights_only=True`` (no code runs) and checked."""
    data = _load_safe(Path(path), map_location, "checkpoint")
    if _is_policy(data):
        raise CheckpointError(
            f"{path} is a policy file (actors only), not a resumable checkpoint; resume from "
            f"the run's checkpoint.pt"
        )
    _check_checkpoint(data, Path(path))
    return decode({k: v for k, v in data.items() if k != CHECKSUM_KEY})


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
    env_steps: int = 0,
    best: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What ``checkpoint.pt`` holds, encoded for :func:`save_atomic`: ``best`` is the best
    evaluation so far (``episode``, ``eval`` metrics, the policy ``weights`` of
    ``policy_best.pt``), so that a resumed run keeps it."""
    return sealed(
        encode(
            {
                "config": config,
                "algo": algo,
                "env_kwargs": env_kwargs,
                "episode": episode,
                "env_steps": env_steps,
                "updates": updates,
                "wall_time_s": wall_time_s,
                "learner": learner_state,
                "replay": replay_state,
                "rng": rng_states(),
                "best": None if best is None else dict(best),
            }
        )
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
    return sealed(
        {
            "format": POLICY_FORMAT,
            "meta": json.dumps(meta, default=str),
            "weights": encode(dict(weights)),
        }
    )


def _is_policy(data: Any) -> bool:
    return isinstance(data, dict) and data.get("format") == POLICY_FORMAT


def _policy(data: dict, path: Path) -> dict:
    try:
        meta = json.loads(data["meta"])
        return {**meta, "config": dict(meta["config"]), "weights": decode(dict(data["weights"]))}
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path} is a damaged policy file ({exc!r}): {_FIX}") from None


def load_policy(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """A ``policy.pt``: ``{"algo", "config", "env_kwargs", "episode", "weights"}``."""
    data = _load_safe(Path(path), map_location, "policy file")
    if not _is_policy(data):
        raise CheckpointError(f"{path} is not a policy file (no format {POLICY_FORMAT!r})")
    return _policy(data, Path(path))


def load_any(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """A checkpoint or a policy file, whichever ``path`` is; ``"kind"`` says which
    (``checkpoint``: the keys of :func:`checkpoint_payload`; ``policy``: of :func:`load_policy`)."""
    data = _load_safe(Path(path), map_location, "checkpoint or policy file")
    if _is_policy(data):
        return {**_policy(data, Path(path)), "kind": "policy"}
    _check_checkpoint(data, Path(path))
    return {**decode({k: v for k, v in data.items() if k != CHECKSUM_KEY}), "kind": "checkpoint"}
