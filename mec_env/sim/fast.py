"""Optional compiled kernels (``pip install "mec-env[fast]"``, numba) for the batched core.

The numpy code is the reference and the fallback; the kernels give identical results
(``tests/env/test_fast.py``). Which runs is chosen per environment with ``kernels=``:

- ``"auto"`` (default): numba if it is installed, else numpy;
- ``"numpy"``: never numba;
- ``"numba"``: numba, or an ``ImportError`` saying how to install it.

The environment variable ``MEC_ENV_KERNELS`` (``auto``, ``numpy``, ``numba``) sets the default.
``import mec_env`` never imports numba: this module imports it on the first environment that
asks for it, and the kernels are compiled once and cached on disk (``cache=True``).
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

KERNELS = ("auto", "numpy", "numba")
_loaded: ModuleType | None = None


def available() -> bool:
    """Whether numba is installed (without importing it)."""
    return importlib.util.find_spec("numba") is not None


def resolve(kernels: str | None = None) -> ModuleType | None:
    """The kernel module for ``kernels`` (see the module docstring), or None for numpy."""
    global _loaded
    choice = kernels if kernels is not None else os.environ.get("MEC_ENV_KERNELS", "auto")
    if choice not in KERNELS:
        raise ValueError(f"kernels must be one of {list(KERNELS)}, got {choice!r}")
    if choice == "numpy" or (choice == "auto" and not available()):
        return None
    if _loaded is None:
        try:
            from mec_env.sim import _numba_kernels
        except ImportError as err:  # numba missing or broken
            if choice == "auto":
                return None
            raise ImportError('kernels="numba" needs numba: pip install "mec-env[fast]"') from err
        _loaded = _numba_kernels
    return _loaded
