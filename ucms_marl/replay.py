"""Replay buffers, registered by name in :data:`REPLAYS`.

A buffer stores *joint* transitions: one row per environment step of one environment copy,
holding every field the learner declared in its transition spec (global state, all UD
observations and actions, per-UD rewards, ...). Fields and shapes are given once, as a
``{name: (shape, dtype)}`` spec, so a new learner (e.g. the UCMS ES Q-network) adds fields
without touching the buffers.

A checkpoint (:meth:`ReplayBuffer.state_dict`) stores each observation once: a row's
``next_state`` (``next_ud_obs``, ...) is, within an episode, the ``state`` of the row the same
copy wrote one step later, so it is stored as that row's index, checked byte for byte; only
an episode's last step keeps its own. This halves the observations' share of the file and
restores the buffer exactly.

``uniform``
    Samples rows uniformly with replacement.
``reward_td_priority``
    The paper's reward–TD-error composite priority (eqs. 27-30). For a transition with
    per-UD rewards r_n and TD errors δ_n,

        η = υ_r (|r| + ε) + υ_δ (|δ| + ε),   υ_r + υ_δ = 1,

    with **[decision]** |r| and |δ| the means over UD agents of |r_n| and |δ_n| (one joint
    transition feeds every UD learner, so it carries one priority). Rows are sampled with
    probability ∝ η^α from a sum tree (α = 1 is eq. 30), stratified over the batch. A new row
    gets the optimistic TD part max |δ| seen so far; priorities are recomputed from the
    learner's fresh TD errors after every update. The loss weight is η itself (eq. 33),
    **[decision]** divided by its batch mean so the learning rate keeps its meaning;
    ``loss_weight=none`` drops the weighting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mec_env.registry import Registry

TransitionSpec = Mapping[str, tuple[tuple[int, ...], np.dtype | type]]

#: the replay buffers by name (``replay.name=``); also resolves import paths and the
#: ``ucms_marl.replays`` entry points (:class:`mec_env.registry.Registry`)
REPLAYS: Registry[type[ReplayBuffer]] = Registry(
    "replay buffer", entry_point_group="ucms_marl.replays"
)


@dataclass
class Sample:
    """A sampled mini-batch: buffer row indices, the fields, and per-row loss weights."""

    indices: np.ndarray
    data: dict[str, np.ndarray]
    weights: np.ndarray | None  # None = unweighted loss


class SumTree:
    """A binary sum tree over ``capacity`` non-negative leaf priorities.

    ``update`` and ``find`` are vectorised over a batch of leaves / prefix sums, so sampling a
    mini-batch costs O(batch · log capacity) numpy operations per tree level, not per item.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"SumTree capacity must be >= 1, got {capacity}")
        self.capacity = int(capacity)
        self._leaves = 1 << max(0, (self.capacity - 1).bit_length())
        self._tree = np.zeros(2 * self._leaves, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self._tree[1])

    def get(self, indices: np.ndarray) -> np.ndarray:
        return self._tree[self._leaves + np.asarray(indices)]

    def update(self, indices: np.ndarray, values: np.ndarray) -> None:
        indices = np.asarray(indices, dtype=np.int64).ravel()
        values = np.asarray(values, dtype=np.float64).ravel()
        if indices.shape != values.shape:
            raise ValueError(f"indices {indices.shape} and values {values.shape} differ in shape")
        if indices.size == 0:
            return
        if indices.min() < 0 or indices.max() >= self.capacity:
            raise IndexError(f"leaf index out of range [0, {self.capacity})")
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError("priorities must be finite and non-negative")
        nodes = self._leaves + indices
        self._tree[nodes] = values  # with duplicate indices the last value wins
        nodes = np.unique(nodes // 2)
        while nodes[0] >= 1:
            self._tree[nodes] = self._tree[2 * nodes] + self._tree[2 * nodes + 1]
            if nodes[0] == 1:
                break
            nodes = np.unique(nodes // 2)

    def find(self, prefix: np.ndarray) -> np.ndarray:
        """Leaf index i with cumsum[i-1] <= prefix < cumsum[i], for each prefix sum."""
        prefix = np.array(prefix, dtype=np.float64, copy=True)
        nodes = np.ones(prefix.shape, dtype=np.int64)
        while nodes[0] < self._leaves:  # every path has the same depth
            left = 2 * nodes
            left_sum = self._tree[left]
            go_right = prefix >= left_sum
            prefix = np.where(go_right, prefix - left_sum, prefix)
            nodes = np.where(go_right, left + 1, left)
        return nodes - self._leaves

    def rebuild(self, priorities: np.ndarray) -> None:
        self._tree[:] = 0.0
        self._tree[self._leaves : self._leaves + len(priorities)] = priorities
        for node in range(self._leaves - 1, 0, -1):
            self._tree[node] = self._tree[2 * node] + self._tree[2 * node + 1]


class ReplayBuffer:
    """Ring buffer of joint transitions with a fixed field spec (base class: uniform sampling)."""

    def __init__(self, capacity: int, spec: TransitionSpec, rng: np.random.Generator) -> None:
        if int(capacity) < 1:
            raise ValueError(f"replay.capacity must be >= 1, got {capacity}")
        if not spec:
            raise ValueError("replay spec must name at least one field")
        self.capacity = int(capacity)
        self.spec = {k: (tuple(shape), np.dtype(dtype)) for k, (shape, dtype) in spec.items()}
        self.rng = rng
        self._storage = {
            k: np.zeros((self.capacity, *shape), dtype=dtype)
            for k, (shape, dtype) in self.spec.items()
        }
        self._pos = 0
        self._size = 0
        self._stride = 1  # rows per add (env copies): the row one step later is this far on

    def __len__(self) -> int:
        return self._size

    def add(self, transitions: Mapping[str, np.ndarray]) -> np.ndarray:
        """Append a batch of rows (leading axis = rows); returns their buffer indices."""
        missing = set(self.spec) - set(transitions)
        if missing:
            raise KeyError(f"transition lacks fields {sorted(missing)} of the replay spec")
        n_rows = None
        for key, (shape, _) in self.spec.items():
            value = np.asarray(transitions[key])
            if value.shape[1:] != shape:
                raise ValueError(
                    f"field {key!r}: expected rows of shape {shape}, got {value.shape}"
                )
            if n_rows is None:
                n_rows = value.shape[0]
            elif value.shape[0] != n_rows:
                raise ValueError(f"field {key!r} has {value.shape[0]} rows, others {n_rows}")
        indices = (self._pos + np.arange(n_rows)) % self.capacity
        for key in self.spec:
            self._storage[key][indices] = transitions[key]
        self._stride = max(self._stride, int(n_rows))
        self._pos = int((self._pos + n_rows) % self.capacity)
        self._size = int(min(self._size + n_rows, self.capacity))
        self._on_add(indices, transitions)
        return indices

    def _on_add(self, indices: np.ndarray, transitions: Mapping[str, np.ndarray]) -> None:
        pass

    def _gather(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v[indices] for k, v in self._storage.items()}

    def sample(self, batch_size: int) -> Sample:
        if self._size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        indices = self.rng.integers(0, self._size, size=int(batch_size))
        return Sample(indices, self._gather(indices), None)

    def update_priorities(self, indices: np.ndarray, td_abs: np.ndarray) -> None:
        """Hook for prioritised buffers; uniform replay ignores TD errors."""

    def _linked_pairs(self) -> list[tuple[str, str]]:
        """(field, next_field) pairs of the spec: ``next_x`` of a row is usually ``x`` of the
        row stored one step later (same copy, same episode)."""
        return [(k, f"next_{k}") for k in self.spec if self.spec.get(f"next_{k}") == self.spec[k]]

    def state_dict(self) -> dict:
        """The stored rows, each observation once: a ``next_x`` row equal (byte for byte) to
        the ``x`` row written ``_stride`` rows later is stored as that row's index; only the
        others (an episode's last step, rows whose successor was overwritten) are kept."""
        storage = {k: v[: self._size].copy() for k, v in self._storage.items()}
        linked, successors = {}, self._successors()
        for key, next_key in self._linked_pairs():
            same = _rows_equal(storage[next_key], storage[key][np.maximum(successors, 0)])
            source = np.where(same & (successors >= 0), successors, -1)
            linked[next_key] = {
                "from": key,
                "source": source,
                "rest": storage.pop(next_key)[source < 0],
            }
        return {"storage": storage, "linked": linked, "stride": self._stride, "pos": self._pos,
                "size": self._size, "rng": self.rng.bit_generator.state}  # fmt: skip

    def _successors(self) -> np.ndarray:
        """For each stored row, the row written ``_stride`` rows after it (-1 if none yet)."""
        rows = np.arange(self._size)
        age = (self._pos - 1 - rows) % self.capacity  # 0 = the newest row
        return np.where(age >= self._stride, (rows + self._stride) % self.capacity, -1)

    def load_state_dict(self, state: dict) -> None:
        size = int(state["size"])
        if size > self.capacity:
            raise ValueError(f"checkpointed replay holds {size} rows > capacity {self.capacity}")
        for key, value in state["storage"].items():
            if key not in self._storage:
                raise KeyError(f"checkpointed replay field {key!r} is not in this buffer's spec")
            self._storage[key][:size] = value
        for next_key, link in state.get("linked", {}).items():
            source, values = (
                link["source"],
                self._storage[link["from"]][np.maximum(link["source"], 0)],
            )
            values[source < 0] = link["rest"]
            self._storage[next_key][:size] = values
        self._pos, self._size = int(state["pos"]), size
        self._stride = int(state.get("stride", 1))
        self.rng.bit_generator.state = state["rng"]


def _rows_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row (leading axis): whether ``a`` and ``b`` hold the same bytes."""
    n = a.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    a_bytes = np.ascontiguousarray(a).view(np.uint8).reshape(n, -1)
    return (a_bytes == np.ascontiguousarray(b).view(np.uint8).reshape(n, -1)).all(axis=1)


REPLAYS.register("uniform", ReplayBuffer)


@REPLAYS.register("reward_td_priority")
class RewardTDPriorityReplay(ReplayBuffer):
    """Reward–TD-error composite priority replay (paper eqs. 27-30), see the module docstring."""

    def __init__(
        self,
        capacity: int,
        spec: TransitionSpec,
        rng: np.random.Generator,
        *,
        upsilon_r: float = 0.5,
        epsilon: float = 1e-3,
        alpha: float = 1.0,
        reward_key: str = "ud_reward",
        loss_weight: str = "eta",
    ) -> None:
        super().__init__(capacity, spec, rng)
        if not 0.0 <= upsilon_r <= 1.0:
            raise ValueError(f"replay.upsilon_r must be in [0, 1] (υ_δ = 1 - υ_r), got {upsilon_r}")
        if epsilon <= 0:
            raise ValueError(f"replay.epsilon must be > 0, got {epsilon}")
        if alpha < 0:
            raise ValueError(f"replay.alpha must be >= 0, got {alpha}")
        if reward_key not in self.spec:
            raise ValueError(
                f"replay.reward_key {reward_key!r} is not a transition field: {list(self.spec)}"
            )
        if loss_weight not in ("eta", "none"):
            raise ValueError(f"replay.loss_weight must be 'eta' or 'none', got {loss_weight!r}")
        self.upsilon_r, self.upsilon_td = float(upsilon_r), 1.0 - float(upsilon_r)
        self.epsilon, self.alpha = float(epsilon), float(alpha)
        self.reward_key, self.loss_weight = reward_key, loss_weight
        self.tree = SumTree(self.capacity)
        self._reward_abs = np.zeros(self.capacity, dtype=np.float64)
        self._eta = np.zeros(self.capacity, dtype=np.float64)
        self.max_td_abs = 1.0  # optimistic TD part for rows never trained on

    def composite_priority(self, reward_abs: np.ndarray, td_abs: np.ndarray) -> np.ndarray:
        """η = υ_r(|r|+ε) + υ_δ(|δ|+ε)  (eqs. 27-29)."""
        return self.upsilon_r * (reward_abs + self.epsilon) + self.upsilon_td * (
            td_abs + self.epsilon
        )

    @staticmethod
    def _mean_abs(x: np.ndarray) -> np.ndarray:
        x = np.abs(np.asarray(x, dtype=np.float64))
        return x.reshape(x.shape[0], -1).mean(axis=1) if x.ndim > 1 else x

    def _set_eta(self, indices: np.ndarray, eta: np.ndarray) -> None:
        self._eta[indices] = eta
        self.tree.update(indices, eta**self.alpha)

    def _on_add(self, indices: np.ndarray, transitions: Mapping[str, np.ndarray]) -> None:
        reward_abs = self._mean_abs(transitions[self.reward_key])
        self._reward_abs[indices] = reward_abs
        self._set_eta(
            indices, self.composite_priority(reward_abs, np.full_like(reward_abs, self.max_td_abs))
        )

    def sample(self, batch_size: int) -> Sample:
        if self._size == 0:
            raise RuntimeError("cannot sample from an empty replay buffer")
        batch_size = int(batch_size)
        total = self.tree.total
        # stratified: one uniform draw in each of batch_size equal slices of the total mass
        prefix = (np.arange(batch_size) + self.rng.random(batch_size)) / batch_size * total
        indices = np.minimum(
            self.tree.find(np.minimum(prefix, np.nextafter(total, 0))), self._size - 1
        )
        weights = None
        if self.loss_weight == "eta":
            eta = self._eta[indices]
            weights = (eta / eta.mean()).astype(np.float32)
        return Sample(indices, self._gather(indices), weights)

    def update_priorities(self, indices: np.ndarray, td_abs: np.ndarray) -> None:
        td_abs = self._mean_abs(td_abs)
        if not np.all(np.isfinite(td_abs)):
            raise FloatingPointError("non-finite TD errors passed to update_priorities")
        self.max_td_abs = max(self.max_td_abs, float(td_abs.max(initial=0.0)))
        indices = np.asarray(indices)
        self._set_eta(indices, self.composite_priority(self._reward_abs[indices], td_abs))

    def probabilities(self) -> np.ndarray:
        """Sampling probability of every stored row (for tests and diagnostics)."""
        p = self.tree.get(np.arange(self._size))
        return p / p.sum()

    def state_dict(self) -> dict:
        state = super().state_dict()
        state.update(
            reward_abs=self._reward_abs[: self._size].copy(),
            eta=self._eta[: self._size].copy(),
            max_td_abs=self.max_td_abs,
        )
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        size = self._size
        self._reward_abs[:] = 0.0
        self._eta[:] = 0.0
        self._reward_abs[:size] = state["reward_abs"]
        self._eta[:size] = state["eta"]
        self.max_td_abs = float(state["max_td_abs"])
        self.tree.rebuild(self._eta[:size] ** self.alpha)


def make_replay(
    name: str, capacity: int, spec: TransitionSpec, rng: np.random.Generator, **kwargs
) -> ReplayBuffer:
    """Build the buffer registered as ``name``."""
    return REPLAYS.get(name)(capacity, spec, rng, **kwargs)
