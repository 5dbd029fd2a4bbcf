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
from mec_env.sim import geometry as geo
from mec_env.sim.params import EnvConfig, db_to_linear


class Component:
    """A scenario component: built from the config; reads ``uniforms_per_ud`` uniforms per UD
    from each slot's block of draws."""

    uniforms_per_ud = 0
    #: a component with per-copy state sets this: :class:`Scenario` then sets :attr:`rows`
    #: (the copies a call draws for, in order) before each call
    needs_rows = False
    rows: np.ndarray | None = None

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

    #: with reach (``nearest_servers``): the ES ids (B', N, K) of the columns of the last
    #: draw; None: column m of a draw is ES m
    near: np.ndarray | None = None

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


def server_sites(cfg: EnvConfig) -> np.ndarray:
    """The ESs' positions (M, 2) in m: ``es_positions`` if given, else a regular grid over
    ``area_m`` (:func:`mec_env.sim.geometry.grid_sites`)."""
    if cfg.es_positions_m is not None:
        return np.asarray(cfg.es_positions_m, dtype=np.float64)
    return geo.grid_sites(cfg.n_servers, cfg.area_m)


class _PerCopy(Component):
    """A component with per-copy state: arrays with a leading copy axis, grown on demand;
    ``fresh[b]``: copy b was reset and has not drawn yet."""

    needs_rows = True

    def __init__(self, cfg: EnvConfig) -> None:
        super().__init__(cfg)
        self.fresh = np.zeros(0, dtype=bool)
        self.state: dict[str, np.ndarray] = {}

    def _new_state(self, b: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def reset(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        need = int(rows.max()) + 1 if rows.size else 0
        have = self.fresh.size
        if need > have:  # more copies: new rows at the end
            extra = self._new_state(need - have)
            self.state = {k: np.concatenate([self.state[k], v]) if self.state else v
                          for k, v in extra.items()}  # fmt: skip
            self.fresh = np.concatenate([self.fresh, np.zeros(need - have, dtype=bool)])
        self.fresh[rows] = True

    def _rows(self, b: int) -> np.ndarray:
        return np.arange(b) if self.rows is None else self.rows

    def _take(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v[rows] for k, v in self.state.items()}

    def _put(self, rows: np.ndarray, new: dict[str, np.ndarray]) -> None:
        for k, v in new.items():
            self.state[k][rows] = v
        self.fresh[rows] = False


class MapMobility(_PerCopy, Mobility):
    """UDs moving in the rectangle [0, W] × [0, H] (``area_m``), one slot of ``slot_s``
    seconds per draw; at a reset each UD is placed uniformly (the first draw's uniforms).
    Subclasses define :meth:`_place` and :meth:`_move` on the copies' state."""

    uniforms_per_ud = 3

    def __init__(self, cfg: EnvConfig) -> None:
        super().__init__(cfg)
        self.area = np.asarray(cfg.area_m, dtype=np.float64)
        self.sites = server_sites(cfg)
        self.dt = cfg.slot_s
        self.speed_range = cfg.ud_speed_mps

    def positions(self, u: np.ndarray) -> np.ndarray:
        rows = self._rows(u.shape[0])
        old = self._take(rows)
        fresh = self.fresh[rows]
        new = self._move(old, u)
        if fresh.any():
            placed = self._place(u)
            for k in new:
                new[k] = np.where(
                    fresh.reshape((-1,) + (1,) * (new[k].ndim - 1)), placed[k], new[k]
                )
        self._put(rows, new)
        return new["pos"].copy()

    def _place(self, u: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _move(self, s: dict[str, np.ndarray], u: np.ndarray) -> dict[str, np.ndarray]:
        raise NotImplementedError


class RandomWaypoint(MapMobility):
    """Random waypoint (Camp et al. 2002): a UD picks a waypoint uniform in the area and a
    speed uniform on ``ud_speed_mps``, travels there in a straight line, pauses
    ``ud_pause_s`` (rounded to whole slots) and picks again. Uniforms per slot: the waypoint's
    x and y and the speed, read only in a slot where a UD picks (at a reset: x and y place
    it; it picks in its next slot)."""

    def __init__(self, cfg: EnvConfig) -> None:
        super().__init__(cfg)
        self.pause_slots = int(round(cfg.ud_pause_s / cfg.slot_s))

    def _new_state(self, b: int) -> dict[str, np.ndarray]:
        n = self.config.n_uds
        return {"pos": np.zeros((b, n, 2)), "target": np.zeros((b, n, 2)),
                "speed": np.zeros((b, n)), "pause": np.zeros((b, n), dtype=np.int64),
                "going": np.zeros((b, n), dtype=bool)}  # fmt: skip

    def _place(self, u):
        b, n = u.shape[:2]
        return {"pos": u[..., :2] * self.area, "target": np.zeros((b, n, 2)),
                "speed": np.zeros((b, n)), "pause": np.zeros((b, n), dtype=np.int64),
                "going": np.zeros((b, n), dtype=bool)}  # fmt: skip

    def _move(self, s, u):
        lo, hi = self.speed_range
        pausing = s["pause"] > 0
        pick = ~pausing & ~s["going"]
        target = np.where(pick[..., None], u[..., :2] * self.area, s["target"])
        speed = np.where(pick, lo + u[..., 2] * (hi - lo), s["speed"])
        going = s["going"] | pick
        pos, arrived = geo.waypoint_step(s["pos"], target, speed, self.dt)
        pos = np.where(going[..., None], pos, s["pos"])
        arrived &= going
        pause = np.where(arrived, self.pause_slots, np.where(pausing, s["pause"] - 1, 0))
        return {"pos": pos, "target": target, "speed": speed, "pause": pause,
                "going": going & ~arrived}  # fmt: skip


class GaussMarkov(MapMobility):
    """Gauss-Markov (Liang and Haas 1999, as in Camp et al. 2002): each slot a UD moves
    Δ·s (cos θ, sin θ) with its current speed and direction, then
    s' = α s + (1 − α) s̄ + sqrt(1 − α²) σ_s z1 (clipped to ``ud_speed_mps``) and
    θ' = α θ + (1 − α) θ̄ + sqrt(1 − α²) σ_θ z2, with α = ``mobility_memory``, s̄ the middle
    of ``ud_speed_mps``, σ_s its uniform spread (hi − lo)/sqrt(12), σ_θ = π/4 and θ̄ the UD's
    mean direction; z1, z2 by Box-Muller from the first two uniforms. A UD crossing a wall
    is reflected back, and its θ and θ̄ are mirrored. At a reset: position uniform, θ = θ̄
    uniform on [0, 2π) (the third uniform), s = s̄."""

    SIGMA_DIRECTION = np.pi / 4

    def __init__(self, cfg: EnvConfig) -> None:
        super().__init__(cfg)
        lo, hi = self.speed_range
        self.mean_speed = 0.5 * (lo + hi)
        self.sigma_speed = (hi - lo) / np.sqrt(12.0)
        self.alpha = cfg.mobility_memory

    def _new_state(self, b: int) -> dict[str, np.ndarray]:
        n = self.config.n_uds
        return {"pos": np.zeros((b, n, 2)), "speed": np.zeros((b, n)),
                "dir": np.zeros((b, n)), "mean_dir": np.zeros((b, n))}  # fmt: skip

    def _place(self, u):
        theta = 2.0 * np.pi * u[..., 2]
        return {"pos": u[..., :2] * self.area, "speed": np.full(u.shape[:2], self.mean_speed),
                "dir": theta, "mean_dir": theta.copy()}  # fmt: skip

    def _move(self, s, u):
        step = self.dt * s["speed"]
        x, flip_x = geo.reflect(s["pos"][..., 0] + step * np.cos(s["dir"]), self.area[0])
        y, flip_y = geo.reflect(s["pos"][..., 1] + step * np.sin(s["dir"]), self.area[1])
        direction, mean_dir = s["dir"], s["mean_dir"]
        direction = np.where(flip_x, np.pi - direction, direction)
        mean_dir = np.where(flip_x, np.pi - mean_dir, mean_dir)
        direction = np.where(flip_y, -direction, direction)
        mean_dir = np.where(flip_y, -mean_dir, mean_dir)
        z1, z2 = geo.normal_pair(u[..., 0], u[..., 1])
        speed, direction = geo.gauss_markov_update(
            s["speed"], direction, self.mean_speed, mean_dir, self.alpha, self.sigma_speed,
            self.SIGMA_DIRECTION, z1, z2,
        )  # fmt: skip
        speed = np.clip(speed, *self.speed_range)
        return {"pos": np.stack([x, y], axis=-1), "speed": speed, "dir": direction,
                "mean_dir": mean_dir}  # fmt: skip


class UmiChannel(_PerCopy, ChannelModel):
    """3GPP TR 38.901 UMi - Street Canyon from the UDs' positions to the ESs' sites: per link
    a LOS state (LOS iff Φ(x_L) < Pr_LOS(d), x_L a unit Gaussian AR(1) over the distance the
    UD moved with a 50 m correlation distance), the LOS or NLOS path loss, log-normal
    shadowing σ·x_S (x_S an AR(1) with 10 m / 13 m correlation distance, σ = 4 / 7.82 dB) and
    Rayleigh fading redrawn each slot; g in dB relative to the subchannel's noise
    (−174 dBm/Hz + 10 log10(W/K) + ``noise_figure_db``), clipped to ``gain_db``. Three
    uniforms per link per slot: two normals (shadowing, LOS) by Box-Muller and the fading.
    At a reset x_S and x_L start from their stationary law."""

    def __init__(self, cfg: EnvConfig) -> None:
        super().__init__(cfg)
        #: K = ``nearest_servers``: the links drawn per UD are to its K nearest ESs (column k
        #: the k-th nearest, ids in ``near``); None: to every ES (column m is ES m)
        self.reach = cfg.nearest_servers
        self.uniforms_per_ud = 3 * cfg.reach
        self.sites = server_sites(cfg)
        self.noise_dbw = geo.noise_dbw(cfg.subchannel_bw_hz, cfg.noise_figure_db)  # (M,)
        self.carrier_ghz = cfg.carrier_ghz
        if self.reach is not None:
            self.lookup = geo.SiteLookup(self.sites, cfg.area_m, self.reach)

    def _new_state(self, b: int) -> dict[str, np.ndarray]:
        n, k = self.config.n_uds, self.config.reach
        state = {"pos": np.zeros((b, n, 2)), "x_shadow": np.zeros((b, n, k)),
                 "x_los": np.zeros((b, n, k))}  # fmt: skip
        if self.reach is not None:
            state["near"] = np.full((b, n, k), -1, dtype=np.int64)
        return state

    def draw(self, u: np.ndarray, positions: np.ndarray | None) -> np.ndarray:
        if positions is None:
            raise ValueError("channel_model 'umi' needs a mobility model with positions")
        b, n = u.shape[:2]
        rows = self._rows(b)
        old = self._take(rows)
        fresh = self.fresh[rows][:, None, None]
        u = u.reshape(b, n, self.config.reach, 3)
        z_shadow, z_los = geo.normal_pair(u[..., 0], u[..., 1])
        if self.reach is None:
            d2d = self.distances(positions)
            noise, new = self.noise_dbw, {}
        else:  # the K nearest; a link new to the K starts afresh, the others carry on
            near, d2d = self.lookup.nearest(positions)
            d2d = np.maximum(d2d, geo.D2D_MIN_M)
            fresh, old = self._handover(fresh, near, old)
            noise, new = self.noise_dbw[near], {"near": near}
            self.near = near
        moved = np.hypot(*np.moveaxis(positions - old["pos"], -1, 0))[..., None]
        x_los = np.where(fresh, z_los, geo.ar1(old["x_los"], z_los, moved, geo.LOS_CORR_M))
        los = geo.normal_cdf(x_los) < geo.umi_los_probability(d2d)
        corr = np.where(los, geo.SF_CORR_LOS_M, geo.SF_CORR_NLOS_M)
        x_shadow = np.where(fresh, z_shadow, geo.ar1(old["x_shadow"], z_shadow, moved, corr))
        self._put(rows, {"pos": positions, "x_shadow": x_shadow, "x_los": x_los, **new})
        return self.gain_db(d2d, los, x_shadow, geo.rayleigh_power(u[..., 2]), noise)

    @staticmethod
    def _handover(fresh, near, old):
        """Each link of ``near`` (B', N, K) to the state it had in the last slot's K, if it
        was there: (fresh (B', N, K), the old state reordered to ``near``'s columns)."""
        same = near[..., :, None] == old["near"][..., None, :]  # (B', N, K, K)
        src = same.argmax(axis=-1)
        moved = {key: np.take_along_axis(old[key], src, -1) for key in ("x_shadow", "x_los")}
        return fresh | ~same.any(axis=-1), {"pos": old["pos"], **moved}

    def distances(self, positions: np.ndarray) -> np.ndarray:
        """d_2D (B', N, M) from each UD to each ES, m, at least 10 m (the formula's range)."""
        delta = positions[..., None, :] - self.sites
        return np.maximum(np.hypot(delta[..., 0], delta[..., 1]), geo.D2D_MIN_M)

    def gain_db(self, d2d, los, x_shadow, fading, noise_dbw=None):
        """g in dB (B', N, M) of links at distances ``d2d`` with LOS flags ``los``, unit
        shadowing ``x_shadow`` and fading powers ``fading``, clipped to ``gain_db``;
        ``noise_dbw`` each link's receiver noise (default the ESs', (M,))."""
        pl = np.where(
            los, geo.umi_los_db(d2d, self.carrier_ghz), geo.umi_nlos_db(d2d, self.carrier_ghz)
        )
        shadow = np.where(los, geo.SIGMA_SF_LOS_DB, geo.SIGMA_SF_NLOS_DB) * x_shadow
        noise = self.noise_dbw if noise_dbw is None else noise_dbw
        return np.clip(geo.gain_db(pl, shadow, fading, noise), *self.config.gain_db)


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
CHANNELS.register("umi", UmiChannel)
MOBILITY.register("static", Static)
MOBILITY.register("random_waypoint", RandomWaypoint)
MOBILITY.register("gauss_markov", GaussMarkov)

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
        #: the components that keep per-copy state (the map's): they are told the rows
        self._stateful = [p for p in parts if p.needs_rows]
        self._copies = 0  # copies seen by reset (the core's first reset names them all)
        self._pending: np.ndarray | None = None  # reset, not drawn yet
        self._just_reset: np.ndarray | None = None  # the rows of the last draw, a reset's

    def reset(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size:
            self._copies = max(self._copies, int(rows.max()) + 1)
        self._pending = rows
        for part in (self.arrivals, self.tasks, self.channel, self.mobility):
            part.reset(rows)

    def _tell_rows(self, b: int, rows: np.ndarray | None) -> None:
        """Tell the stateful components which copies the ``b`` rows of this draw are.

        ``rows`` given: those. Otherwise they follow from the core's order of calls: a reset
        of rows r is followed by the draw of r; a draw of every copy is ``arange``; the draw
        right after a reset's that covers the other copies (a vector env's auto-reset: reset
        some, step the rest) is their complement. Any other subset is ambiguous: an error."""
        if not self._stateful:
            return
        pending, just_reset = self._pending, self._just_reset
        self._pending = self._just_reset = None
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
        elif pending is not None and pending.size == b:
            rows = self._just_reset = pending
        elif b == self._copies:
            rows = np.arange(b)
        elif just_reset is not None and b == self._copies - just_reset.size:
            rows = np.setdiff1d(np.arange(self._copies), just_reset)
        else:
            raise RuntimeError(
                f"the map's components keep per-copy state and cannot tell which {b} of "
                f"{self._copies} copies this draw is for: pass rows to Scenario.draw"
            )
        for part in self._stateful:
            part.rows = rows

    def draw(self, u: np.ndarray, rows: np.ndarray | None = None):
        """(bits, cycles per bit, deadline, gain dB) of a slot from its uniforms (B', N, k):
        one affine draw if the slot is one, else by the components' ``draw`` methods.
        ``rows``: the copies drawn for (B',), needed only by stateful components (the map's;
        :meth:`_tell_rows` infers them when not given)."""
        if self.affine is not None:
            return _affine_draw(u, *self.affine)
        self._tell_rows(u.shape[0], rows)
        arrive_u, task_u, chan_u, move_u = (u[..., c] for c in self.columns)
        bits, cpb, deadline = self.tasks.draw(task_u)
        gain_db = self.channel.draw(chan_u, self.mobility.positions(move_u))
        return bits, cpb, deadline, gain_db

    def draw_arrivals(self, u: np.ndarray, phase: np.ndarray, rows: np.ndarray | None = None):
        """A slot of the time-coupled model from its uniforms (B', N, k) and the arrival
        phases (B', N): ``(counts (B', N), phase, (bits, cycles per bit, deadline s) each
        (B', N, max_arrivals), gain dB (B', N, M))``; task j of a UD is its j-th arrival.
        ``rows`` as in :meth:`draw`."""
        self._tell_rows(u.shape[0], rows)
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
