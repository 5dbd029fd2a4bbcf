"""The scenario's components: what arrives, what a task is, what the channel does, how UDs move.

Each kind is one small interface with today's behaviour as its default, chosen by a config key
and registered like the matchers (a :class:`mec_env.registry.Registry`: by name, by import
path ``"package.module:Class"``, or by an entry point of the kind's group):

=================== ================== ===================== ===========================
kind                config key         registry              default
=================== ================== ===================== ===========================
arrival process     ``arrivals``       :data:`ARRIVALS`      ``"every_slot"``
task model          ``task_model``     :data:`TASK_MODELS`   ``"uniform"``
channel model       ``channel_model``  :data:`CHANNELS`      ``"uniform_db"``
mobility            ``mobility``       :data:`MOBILITY`      ``"static"``
=================== ================== ===================== ===========================

A component is a class built once per core from the :class:`~mec_env.sim.params.EnvConfig`.
Each slot, the core draws one block of uniforms per copy (one ``random`` call per copy) and
hands every component its own columns, ``uniforms_per_ud`` of them per UD, in the order of the
table (arrivals, tasks, channel, mobility). With the defaults that block is (N, 3 + M): three
task columns and M gain columns, exactly the draws of the paper's model, so the trajectories
are unchanged. A component that draws nothing has ``uniforms_per_ud = 0``.

Where a task model or a channel model is *affine* (each column ``low + u·span``, as both
defaults are), it says so with :meth:`TaskModel.affine`; the core then draws tasks and gains
with one broadcast and the compiled backend draws them inside its slot kernel. Any other model
is called through its ``draw`` method (the compiled backend then plays a slot in its separate
kernels).
"""

from __future__ import annotations

import numpy as np

from mec_env.registry import Registry
from mec_env.sim.params import EnvConfig, db_to_linear


class Component:
    """A scenario component: built from the config; reads ``uniforms_per_ud`` uniforms per UD
    from each slot's block of draws."""

    uniforms_per_ud = 0

    def __init__(self, cfg: EnvConfig) -> None:
        self.config = cfg

    def reset(self, rows: np.ndarray) -> None:
        """A new episode starts in copies ``rows`` (state, if any, goes back to its start)."""


class ArrivalProcess(Component):
    """Which tasks arrive at the UDs in a slot."""

    def arrivals(self, u: np.ndarray) -> np.ndarray | None:
        """Tasks arriving per UD this slot, (B', N) int, from this component's uniforms ``u``
        (B', N, uniforms_per_ud); None: exactly one per UD per slot (the paper's model, the
        only one the core plays today; queues that persist are issue 21's)."""
        return None


class EverySlot(ArrivalProcess):
    """The paper's arrivals: every UD gets one new task every slot; draws nothing."""


class TaskModel(Component):
    """The slot's task of each UD: size β (bits), cycles per bit c and deadline φ (s)."""

    uniforms_per_ud = 3

    def affine(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(low, span)`` (uniforms_per_ud,) if column j of a draw is ``low[j] + u·span[j]``
        and the three columns are (β, c, φ) in order; None otherwise."""
        return None

    def draw(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bits, cycles per bit, deadline s), each (B', N), from ``u`` (B', N, k)."""
        raise NotImplementedError


class UniformTasks(TaskModel):
    """The paper's tasks: β, c and φ each uniform on its configured range."""

    def __init__(self, cfg: EnvConfig) -> None:
        super().__init__(cfg)
        low = np.array([cfg.task_bits[0], cfg.cycles_per_bit[0], cfg.deadline_s[0]])
        high = np.array([cfg.task_bits[1], cfg.cycles_per_bit[1], cfg.deadline_s[1]])
        self._columns = (low, high - low)

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        return self._columns

    def draw(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        low, span = self._columns
        bits, cpb, deadline = (low[j] + u[..., j] * span[j] for j in range(3))
        return bits, cpb, deadline


class ChannelModel(Component):
    """The gain g[n, m] (dB, normalised h/σ², eq. 5) of every UD to every ES in a slot."""

    def __init__(self, cfg: EnvConfig) -> None:
        super().__init__(cfg)
        # one per ES; a model that draws otherwise sets its own after this
        self.uniforms_per_ud = cfg.n_servers

    def affine(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(low, span)`` (M,) if column m of a draw is the gain to ES m, ``low[m] +
        u·span[m]`` dB; None otherwise."""
        return None

    def draw(self, u: np.ndarray, positions: np.ndarray | None) -> np.ndarray:
        """The gains (B', N, M) in dB from ``u`` (B', N, k) and the UDs' ``positions`` from
        the mobility component (None without geometry)."""
        raise NotImplementedError

    @staticmethod
    def linear(gain_db: np.ndarray) -> np.ndarray:
        """The linear gains of ``gain_db``: 10^(dB/10)."""
        return db_to_linear(gain_db)


class UniformDbChannel(ChannelModel):
    """The paper's channel: every gain uniform in dB on ``gain_db``, redrawn every slot."""

    def __init__(self, cfg: EnvConfig) -> None:
        super().__init__(cfg)
        lo, hi = cfg.gain_db
        self._columns = (np.full(cfg.n_servers, lo), np.full(cfg.n_servers, hi - lo))

    def affine(self) -> tuple[np.ndarray, np.ndarray]:
        return self._columns

    def draw(self, u: np.ndarray, positions: np.ndarray | None) -> np.ndarray:
        low, span = self._columns
        return low + u * span


class Mobility(Component):
    """Where the UDs are; the channel model reads the positions."""

    def positions(self, u: np.ndarray) -> np.ndarray | None:
        """The UDs' positions this slot (B', N, 2), from ``u`` (B', N, uniforms_per_ud);
        None: no geometry (the paper's model)."""
        return None


class Static(Mobility):
    """The paper's model: no positions, nothing moves, draws nothing."""


ARRIVALS: Registry[type[ArrivalProcess]] = Registry(
    "arrival process", entry_point_group="mec_env.arrivals"
)
TASK_MODELS: Registry[type[TaskModel]] = Registry("task model", entry_point_group="mec_env.tasks")
CHANNELS: Registry[type[ChannelModel]] = Registry(
    "channel model", entry_point_group="mec_env.channels"
)
MOBILITY: Registry[type[Mobility]] = Registry(
    "mobility model", entry_point_group="mec_env.mobility"
)

ARRIVALS.register("every_slot", EverySlot)
TASK_MODELS.register("uniform", UniformTasks)
CHANNELS.register("uniform_db", UniformDbChannel)
MOBILITY.register("static", Static)

#: config key -> (registry, the base class a component must subclass), in draw order
KINDS = {
    "arrivals": (ARRIVALS, ArrivalProcess),
    "task_model": (TASK_MODELS, TaskModel),
    "channel_model": (CHANNELS, ChannelModel),
    "mobility": (MOBILITY, Mobility),
}


class Scenario:
    """The four components of a config, built once, and the columns of each slot's uniforms
    that each reads."""

    def __init__(self, cfg: EnvConfig) -> None:
        self.arrivals: ArrivalProcess = ARRIVALS[cfg.arrivals](cfg)
        self.tasks: TaskModel = TASK_MODELS[cfg.task_model](cfg)
        self.channel: ChannelModel = CHANNELS[cfg.channel_model](cfg)
        self.mobility: Mobility = MOBILITY[cfg.mobility](cfg)
        parts = (self.arrivals, self.tasks, self.channel, self.mobility)
        edges = np.cumsum([0] + [p.uniforms_per_ud for p in parts])
        self.columns = [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        #: uniforms per UD of a slot: 3 + M with the defaults
        self.uniforms_per_ud = int(edges[-1])
        task, chan = self.tasks.affine(), self.channel.affine()
        # the paper's arrivals and no geometry: neither method overridden, nothing drawn
        plain = (
            type(self.arrivals).arrivals is ArrivalProcess.arrivals
            and type(self.mobility).positions is Mobility.positions
            and self.arrivals.uniforms_per_ud == self.mobility.uniforms_per_ud == 0
        )
        #: (low, span) (3 + M,) when the slot is one affine draw of (β, c, φ, gains dB)
        self.affine = None
        if plain and task is not None and chan is not None:
            self.affine = (np.concatenate([task[0], chan[0]]), np.concatenate([task[1], chan[1]]))

    def reset(self, rows: np.ndarray) -> None:
        for part in (self.arrivals, self.tasks, self.channel, self.mobility):
            part.reset(rows)

    def draw(self, u: np.ndarray):
        """(bits, cycles per bit, deadline, gain dB) of a slot from its uniforms (B', N, k):
        one affine draw if the slot is one, else by the components' ``draw`` methods."""
        if self.affine is not None:
            return _affine_draw(u, *self.affine)
        arrive_u, task_u, chan_u, move_u = (u[..., c] for c in self.columns)
        if self.arrivals.arrivals(arrive_u) is not None:
            raise NotImplementedError(
                "arrival processes other than one task per UD per slot need persistent task "
                "queues in the core (issue 21)"
            )
        bits, cpb, deadline = self.tasks.draw(task_u)
        gain_db = self.channel.draw(chan_u, self.mobility.positions(move_u))
        return bits, cpb, deadline, gain_db


def _affine_draw(u: np.ndarray, low: np.ndarray, span: np.ndarray):
    """(bits, cycles per bit, deadline, gain dB) as ``low + u·span`` column by column of
    ``u`` (B', N, 3 + M), the layout chosen for speed only (the same floats either way)."""
    m = u.shape[-1] - 3
    if u.size <= 4096:  # a few copies: fewest numpy calls, the columns are views
        draws = low + u * span
        return draws[..., 0], draws[..., 1], draws[..., 2], draws[..., 3:]
    # low + u·span per column, as the broadcast gives it, into contiguous arrays
    bits, cpb, deadline = (low[j] + u[..., j] * span[j] for j in range(3))
    if m > 16:
        return bits, cpb, deadline, low[3:] + u[..., 3:] * span[3:]
    gain_db = np.empty(u.shape[:-1] + (m,))
    for j in range(m):  # one server column at a time: faster than a short last axis
        np.multiply(u[..., 3 + j], span[3 + j], out=gain_db[..., j])
        gain_db[..., j] += low[3 + j]
    return bits, cpb, deadline, gain_db
