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
    """How many tasks arrive at each UD in a slot (at most ``max_arrivals``)."""

    def arrivals(self, u: np.ndarray, phase: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``(counts, phase)``: tasks arriving per UD this slot (B', N) int64 and the UDs'
        arrival phase after this slot (B', N) int8, from this component's uniforms ``u``
        (B', N, uniforms_per_ud) and the phase before it (0 at a reset; a process without
        phases returns it unchanged). None: exactly one task per UD per slot (the paper's
        model, which also plays without queues)."""
        return None


class EverySlot(ArrivalProcess):
    """The paper's arrivals: every UD gets one new task every slot; draws nothing."""


def poisson_counts(u: np.ndarray, rate: np.ndarray | float, cap: int) -> np.ndarray:
    """Poisson(``rate``) counts capped at ``cap`` by inversion of the uniforms ``u``: the
    count is the number of k < cap with u ≥ P(X ≤ k), so P(count = cap) = P(X ≥ cap)."""
    rate = np.asarray(rate, dtype=np.float64)
    k = np.arange(cap)
    # P(X = k) = e^-λ λ^k / k!, accumulated; shape rate.shape + (cap,)
    pmf = np.exp(-rate[..., None]) * rate[..., None] ** k / np.cumprod(np.r_[1.0, k[1:]])
    cdf = np.cumsum(pmf, axis=-1)
    return (u[..., None] >= cdf).sum(axis=-1).astype(np.int64)


class PoissonArrivals(ArrivalProcess):
    """Poisson(``arrival_rate``) tasks per UD per slot, independent over UDs and slots,
    capped at ``max_arrivals`` (the capped mass counts as ``max_arrivals``); one uniform."""

    uniforms_per_ud = 1

    def __init__(self, cfg: EnvConfig) -> None:
        super().__init__(cfg)
        self._cdf_rate = cfg.arrival_rate

    def arrivals(self, u: np.ndarray, phase: np.ndarray):
        counts = poisson_counts(u[..., 0], self._cdf_rate, self.config.max_arrivals)
        return counts, phase


class BernoulliArrivals(ArrivalProcess):
    """One task per UD per slot with probability ``arrival_rate`` (<= 1), independent over
    UDs and slots (Tang and Wong, IEEE TMC 2022); one uniform."""

    uniforms_per_ud = 1

    def arrivals(self, u: np.ndarray, phase: np.ndarray):
        return (u[..., 0] < self.config.arrival_rate).astype(np.int64), phase


class BurstyArrivals(ArrivalProcess):
    """A two-state Markov-modulated Poisson process per UD: in the calm phase (0) Poisson
    (``arrival_rate``), in the burst phase (1) Poisson(``burst_rate``); at the start of each
    slot a calm UD turns bursty with probability ``burst_switch[0]`` and a bursty one calms
    with ``burst_switch[1]``, then draws its count at the new phase's rate. Every UD starts
    an episode calm. Two uniforms: the switch, then the count."""

    uniforms_per_ud = 2

    def arrivals(self, u: np.ndarray, phase: np.ndarray):
        cfg = self.config
        p_on, p_off = cfg.burst_switch
        flip = np.where(phase == 1, u[..., 0] < p_off, u[..., 0] < p_on)
        phase = np.where(flip, 1 - phase, phase).astype(np.int8)
        rate = np.where(phase == 1, cfg.burst_rate, cfg.arrival_rate)
        return poisson_counts(u[..., 1], rate, cfg.max_arrivals), phase


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
ARRIVALS.register("poisson", PoissonArrivals)
ARRIVALS.register("bernoulli", BernoulliArrivals)
ARRIVALS.register("bursty", BurstyArrivals)
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
        #: task draws per UD per slot: ``max_arrivals`` with queues, else 1
        self.tasks_per_ud = cfg.max_arrivals if cfg.queued else 1
        widths = [p.uniforms_per_ud for p in parts]
        widths[1] *= self.tasks_per_ud
        edges = np.cumsum([0] + widths)
        self.columns = [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        #: uniforms per UD of a slot: 3 + M with the defaults
        self.uniforms_per_ud = int(edges[-1])
        task, chan = self.tasks.affine(), self.channel.affine()
        # the paper's arrivals and no geometry: neither method overridden, nothing drawn
        plain = (
            not cfg.queued
            and type(self.arrivals).arrivals is ArrivalProcess.arrivals
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
        bits, cpb, deadline = self.tasks.draw(task_u)
        gain_db = self.channel.draw(chan_u, self.mobility.positions(move_u))
        return bits, cpb, deadline, gain_db

    def draw_arrivals(self, u: np.ndarray, phase: np.ndarray):
        """A slot of the time-coupled model from its uniforms (B', N, k) and the arrival
        phases (B', N): ``(counts (B', N), phase, (bits, cycles per bit, deadline s) each
        (B', N, max_arrivals), gain dB (B', N, M))``; task j of a UD is its j-th arrival."""
        arrive_u, task_u, chan_u, move_u = (u[..., c] for c in self.columns)
        got = self.arrivals.arrivals(arrive_u, phase)
        if got is None:  # one task per UD per slot
            got = (np.ones(phase.shape, dtype=np.int64), phase)
        b, n = phase.shape
        per_task = task_u.reshape(b, n, self.tasks_per_ud, self.tasks.uniforms_per_ud)
        tasks = self.tasks.draw(per_task)
        gain_db = self.channel.draw(chan_u, self.mobility.positions(move_u))
        return got[0], got[1], tasks, gain_db


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
