"""A native TorchRL environment over the batched core: B copies, groups ``ud`` and ``es``.

``MECTorchRLEnv(num_envs=B, preset=..., **overrides)`` is a :class:`torchrl.envs.EnvBase`
with batch size (B,). Nothing loops over agents: the arrays of
:class:`mec_env.adapters.vector.MECVectorEnv` become tensors. Keys (D = 2M + 7, Z = max z_max):

====================================== ====================== ==================================
key                                    shape, dtype           meaning
====================================== ====================== ==================================
``("ud", "observation")``              (B, N, D) float32      UD observations
``("ud", "action")``                   (B, N, 3) float32      (x^u, f^u, p^u) in [0, 1]
``("next", "ud", "reward")``           (B, N, 1) float32      UD rewards
``("es", "observation")``              (B, M, 6Z + 3) float32 ES observations (ES agents on)
``("es", "action")``                   (B, M, Z) int8/float32 approval bits (or box values)
``("next", "es", "reward")``           (B, M, 1) float32      ES rewards
``"state"``                            (B, N·D + 3M) float32  the global state
``done``, ``terminated``, ``truncated`` (B, 1) bool            per copy
``("ud", "info", key)``                (B, N) or (B, N, M)    UD info keys (``infos=True``)
``("es", "info", key)``                (B, M) or (B, M, Z)    ES info keys (``infos=True``)
====================================== ====================== ==================================

Info values keep the environment's dtypes (float64, int64, bool); the slot metrics repeat
for every agent of a copy, as in ``parallel_env``. ``infos=False`` leaves them out (faster).

Resets follow TorchRL: ``reset()`` resets every copy, a ``"_reset"`` mask (B, 1) only those;
``set_seed(s)`` seeds copy b with ``s + b`` for the next reset. Import this module only when
you use it: it imports torch, torchrl and tensordict (the ``torchrl`` extra,
``pip install "mec-env[torchrl]"``), which ``mec_env`` does not need otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    import torch
    from tensordict import TensorDict, TensorDictBase
    from torchrl.data import Binary, Bounded, Composite, Unbounded
    from torchrl.envs import EnvBase
except ImportError as _err:  # torch, torchrl or tensordict missing
    raise ImportError(
        f"mec_env.torchrl_env needs torch, torchrl and tensordict ({_err}); install them "
        f'with: pip install "mec-env[torchrl]"',
        name=getattr(_err, "name", None),
    ) from _err

from mec_env.adapters.vector import MECVectorEnv
from mec_env.config import DEFAULT_PRESET
from mec_env.errors import ActionError
from mec_env.spec import ES_INFO_KEYS, SLOT_INFO_KEYS, UD_INFO_KEYS

_TORCH_DTYPE = {
    np.dtype(np.float64): torch.float64,
    np.dtype(np.int64): torch.int64,
    np.dtype(np.bool_): torch.bool,
    np.dtype(np.float32): torch.float32,
}


class MECTorchRLEnv(EnvBase):
    """B copies of the MEC environment as a TorchRL ``EnvBase``; see the module docstring."""

    def __init__(
        self,
        num_envs: int,
        preset: str = DEFAULT_PRESET,
        *,
        infos: bool = True,
        kernels: str | None = None,
        device: Any = "cpu",
        **overrides: Any,
    ) -> None:
        self.vec = MECVectorEnv(num_envs, preset, autoreset=False, kernels=kernels, **overrides)
        super().__init__(device=device, batch_size=torch.Size([self.vec.num_envs]))
        self.infos = bool(infos)
        self._seed: int | None = None
        self._make_specs()

    # ------------------------------------------------------------------ specs
    def _make_specs(self) -> None:
        v = self.vec
        b, n, m = v.num_envs, v.n_uds, v.n_servers
        obs_space = v.observation_space
        dev = self.device
        ud_obs = Bounded(
            0.0,
            torch.as_tensor(obs_space["ud"].high),
            shape=(b, n, obs_space["ud"].shape[-1]),
            dtype=torch.float32,
            device=dev,
        )
        observation = {"ud": Composite(observation=ud_obs, shape=(b, n), device=dev)}
        action = {
            "ud": Composite(
                action=Bounded(0.0, 1.0, shape=(b, n, 3), dtype=torch.float32, device=dev),
                shape=(b, n),
                device=dev,
            )
        }
        reward = {
            "ud": Composite(
                reward=Unbounded(shape=(b, n, 1), dtype=torch.float32, device=dev),
                shape=(b, n),
                device=dev,
            )
        }
        if v.es_agents:
            self._add_es_specs(observation, action, reward)
        if self.infos:
            _, infos = v.reset(seed=0)  # the info layout (every key, every dtype)
            observation["ud"]["info"] = self._info_spec(infos, UD_INFO_KEYS, (b, n))
            if v.es_agents:
                observation["es"]["info"] = self._info_spec(infos, ES_INFO_KEYS, (b, m))
        s_high = torch.as_tensor(v.state_space.high)
        observation["state"] = Bounded(
            0.0, s_high, shape=v.state_space.shape, dtype=torch.float32, device=dev
        )
        self.observation_spec = Composite(observation, shape=(b,), device=dev)
        self.action_spec = Composite(action, shape=(b,), device=dev)
        self.reward_spec = Composite(reward, shape=(b,), device=dev)
        self.done_spec = Composite(
            done=Binary(n=1, shape=(b, 1), dtype=torch.bool, device=dev),
            terminated=Binary(n=1, shape=(b, 1), dtype=torch.bool, device=dev),
            truncated=Binary(n=1, shape=(b, 1), dtype=torch.bool, device=dev),
            shape=(b,),
            device=dev,
        )

    def _add_es_specs(self, observation: dict, action: dict, reward: dict) -> None:
        """The ES group's observation, action and reward specs."""
        v = self.vec
        b, m, z = v.num_envs, v.n_servers, v.z_cap
        obs_space = v.observation_space
        dev = self.device
        es_obs = Bounded(
            0.0,
            torch.as_tensor(obs_space["es"].high),
            shape=obs_space["es"].shape,
            dtype=torch.float32,
            device=dev,
        )
        observation["es"] = Composite(observation=es_obs, shape=(b, m), device=dev)
        es_act = (
            Bounded(0.0, 1.0, shape=(b, m, z), dtype=torch.float32, device=dev)
            if v.config.es_action_space == "box"
            else Binary(n=z, shape=(b, m, z), dtype=torch.int8, device=dev)
        )
        action["es"] = Composite(action=es_act, shape=(b, m), device=dev)
        reward["es"] = Composite(
            reward=Unbounded(shape=(b, m, 1), dtype=torch.float32, device=dev),
            shape=(b, m),
            device=dev,
        )

    def _info_spec(self, infos: dict, keys: tuple, shape: tuple) -> Composite:
        specs = {}
        for key in keys:
            value = np.asarray(infos[key])
            full = shape + value.shape[len(shape) :] if key not in SLOT_INFO_KEYS else shape
            specs[key] = Unbounded(shape=full, dtype=_TORCH_DTYPE[value.dtype], device=self.device)
        return Composite(specs, shape=shape, device=self.device)

    # ------------------------------------------------------------------ conversion
    def _td(self, obs: dict, infos: dict) -> TensorDict:
        v, dev = self.vec, self.device
        b, n, m = v.num_envs, v.n_uds, v.n_servers
        ud: dict[str, Any] = {"observation": torch.from_numpy(obs["ud"])}
        es: dict[str, Any] = {}
        if v.es_agents:
            es["observation"] = torch.from_numpy(obs["es"])
        if self.infos:
            ud["info"] = TensorDict(self._info_td(infos, UD_INFO_KEYS, (b, n)), (b, n))
            if v.es_agents:
                es["info"] = TensorDict(self._info_td(infos, ES_INFO_KEYS, (b, m)), (b, m))
        out: dict[str, Any] = {
            "ud": TensorDict(ud, batch_size=(b, n)),
            "state": torch.from_numpy(v.state()),
        }
        if v.es_agents:
            out["es"] = TensorDict(es, batch_size=(b, m))
        return TensorDict(out, batch_size=(b,), device=dev)

    @staticmethod
    def _info_td(infos: dict, keys: tuple, shape: tuple) -> dict:
        out = {}
        for key in keys:
            t = torch.as_tensor(np.asarray(infos[key]))
            if key in SLOT_INFO_KEYS:  # one value per copy, repeated for every agent
                t = t[:, None].expand(shape)
            out[key] = t
        return out

    # ------------------------------------------------------------------ EnvBase
    def _reset(self, tensordict: TensorDictBase | None = None, **kwargs: Any) -> TensorDict:
        mask = None
        if tensordict is not None and "_reset" in tensordict.keys():
            mask = tensordict.get("_reset").reshape(self.vec.num_envs).cpu().numpy()
        seed, self._seed = self._seed, None
        if mask is None or not self.vec._started:
            obs, infos = self.vec.reset(seed=seed)
        else:
            obs, infos = self.vec.reset(seed=seed, options={"reset_mask": mask})
        td = self._td(obs, infos)
        false = torch.zeros((self.vec.num_envs, 1), dtype=torch.bool, device=self.device)
        td.update({"done": false, "terminated": false.clone(), "truncated": false.clone()})
        return td

    def _step(self, tensordict: TensorDictBase) -> TensorDict:
        v = self.vec
        actions = {g: self._action(tensordict, g) for g in v.groups}
        obs, rewards, terminated, truncated, infos = v.step(actions)
        td = self._td(obs, infos)
        td.set(("ud", "reward"), torch.from_numpy(rewards["ud"].astype(np.float32)[..., None]))
        if v.es_agents:
            td.set(("es", "reward"), torch.from_numpy(rewards["es"].astype(np.float32)[..., None]))
        term = torch.from_numpy(terminated[:, None])
        trunc = torch.from_numpy(truncated[:, None])
        td.update({"done": term | trunc, "terminated": term, "truncated": trunc})
        return td

    def _action(self, tensordict: TensorDictBase, group: str) -> np.ndarray:
        value = tensordict.get((group, "action"), None)
        if value is None:
            keys = ", ".join(repr((g, "action")) for g in self.vec.groups)
            raise ActionError(
                f"step() needs the actions under {keys} (see env.action_keys); the "
                f"tensordict has no {(group, 'action')!r}"
            )
        return value.detach().cpu().numpy()

    def _set_seed(self, seed: int | None) -> None:
        self._seed = seed


def torchrl_env(num_envs: int, preset: str = DEFAULT_PRESET, **kwargs: Any) -> MECTorchRLEnv:
    """``num_envs`` copies of ``parallel_env(preset, ...)`` as a TorchRL ``EnvBase``."""
    return MECTorchRLEnv(num_envs, preset, **kwargs)
