"""Errors a user can cause and fix, and how ``ucms-train`` / ``ucms-eval`` report them.

A :class:`UsageError` is something the user can fix (a bad value, a run directory that
exists, an unreadable checkpoint): the command line tools print it as one line, ``<prog>:
error: <what, where, how to fix>``, and exit with status 2. The whole traceback is shown only
with ``HYDRA_FULL_ERROR=1`` (both tools) or ``ucms-eval --debug``. Torch- and Hydra-free, so
that :func:`require_train_extra` can run before either is imported.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import NoReturn

#: the modules of the ``train`` extra that ``ucms-train`` and ``ucms-eval`` import first
TRAIN_EXTRA_MODULES = ("torch", "hydra", "omegaconf", "tqdm")


class UsageError(Exception):
    """An error the user caused and can fix; reported as one line with exit status 2."""


def debug_requested() -> bool:
    """Whether the user asked for full tracebacks (``HYDRA_FULL_ERROR=1``)."""
    return os.environ.get("HYDRA_FULL_ERROR") == "1"


def exit_with(prog: str, message: object) -> NoReturn:
    """Print ``<prog>: error: <message>`` (its first line) on stderr and exit with status 2."""
    text = str(message).strip().splitlines()[0] if str(message).strip() else repr(message)
    print(f"{prog}: error: {text}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def require_train_extra(prog: str, *, cli: bool = False) -> None:
    """When run as the command ``prog`` (``cli``, or ``sys.argv[0]`` is the console script),
    exit with one line naming the ``train`` extra if one of its modules is missing: a
    core-only install (``pip install mec-env``) has no torch and no Hydra. Imported as a
    library, the caller re-raises its ``ModuleNotFoundError`` instead."""
    if not (cli or os.path.basename(sys.argv[0]) == prog):
        return
    missing = [name for name in TRAIN_EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        exit_with(
            prog,
            f"{prog} needs the trainer's dependencies ({', '.join(missing)} not installed); "
            f'install them with: pip install "mec-env[train]"',
        )
