"""``mec_env.torchrl_env``: the native TorchRL environment, :mod:`mec_env.adapters.torchrl`
(kept under this name, which the docs use). Needs the ``torchrl`` extra
(``pip install "mec-env[torchrl]"``); without it this import raises an ImportError that says
so."""

from mec_env.adapters.torchrl import MECTorchRLEnv, torchrl_env

__all__ = ["MECTorchRLEnv", "torchrl_env"]
