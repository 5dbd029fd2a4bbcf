"""The validated configuration of the simulator, in SI units (:class:`EnvConfig`), and the two
unit conversions it needs. :mod:`mec_env.config` builds it from a preset and overrides (and
re-exports it); the simulator, the matchers and the rules read it. Imports nothing of the
package, so every layer can name it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def dbm_to_w(dbm: float | np.ndarray) -> float | np.ndarray:
    """Power in dBm to watts: ``10**(dBm/10) / 1000``."""
    return 10.0 ** (np.asarray(dbm, dtype=np.float64) / 10.0) / 1000.0


def db_to_linear(db: float | np.ndarray) -> float | np.ndarray:
    """A ratio in dB to linear scale: ``10**(dB/10)``."""
    return 10.0 ** (np.asarray(db, dtype=np.float64) / 10.0)


@dataclass(frozen=True)
class EnvConfig:
    """A validated configuration in SI units. Per-server values are arrays of shape (M,).

    Attributes are named with their unit: ``*_bits``, ``*_s``, ``*_hz``, ``*_w``, ``*_j``.
    """

    n_servers: int
    n_uds: int
    n_slots: int
    task_bits: tuple[float, float]
    cycles_per_bit: tuple[float, float]
    deadline_s: tuple[float, float]
    f_min_hz: float
    f_max_hz: float
    p_min_w: float
    p_max_w: float
    b_min_j: float
    b_max_j: float
    harvest_mean_j: float
    z_max: np.ndarray  # (M,) int
    subchannels: np.ndarray  # (M,) int, K
    n_cpus: np.ndarray  # (M,) int, U_m
    storage_bits: np.ndarray  # (M,) float, D_m
    f_server_hz: np.ndarray  # (M,) float
    gain_db: tuple[float, float]
    kappa: float
    bandwidth_hz: float
    rho_delay: float
    rho_energy: float
    matcher: str
    admission: str
    es_agents: bool
    es_action_space: str  # "multibinary" or "box"
    normalize_obs: bool
    clip_actions: bool
    render_mode: str | None
    raw: dict  # the merged config in public units, for logging and reprs
    # the scenario's components by registered name (mec_env.sim.components)
    arrivals: str = "every_slot"
    task_model: str = "uniform"
    channel_model: str = "uniform_db"
    mobility: str = "static"
    # tasks that wait (docs/environment.md, "Time-coupled presets"); queue_capacity 0: off,
    # the paper's model (one task per UD per slot, nothing carried over)
    queue_capacity: int = 0  # tasks a UD's FIFO holds
    slot_s: float = 0.1  # Δ, the slot length in s
    arrival_rate: float = 1.0  # mean tasks per UD per slot (Poisson; the calm state if bursty)
    burst_rate: float = 1.0  # mean tasks per UD per slot in the burst state ("bursty")
    burst_switch: tuple[float, float] = (0.0, 0.0)  # P(calm→burst), P(burst→calm) per slot
    max_arrivals: int = 1  # arrivals per UD per slot are capped here
    drop_cost: float = 0.0  # the cost of a dropped task
    battery_hard: bool = False  # a UD cannot spend more than its battery holds
    # the map (docs/environment.md, "The map"): read by the "umi" channel and the mobility
    # models; the paper's model has no positions and ignores them
    area_m: tuple[float, float] = (500.0, 500.0)  # W, H of the rectangle UDs move in, m
    es_positions_m: np.ndarray | None = None  # (M, 2) ES sites, m; None: a regular grid
    ud_speed_mps: tuple[float, float] = (1.0, 10.0)  # UD speed range, m/s
    ud_pause_s: float = 1.0  # random waypoint: pause at a waypoint, s
    mobility_memory: float = 0.75  # Gauss-Markov α in [0, 1]
    carrier_ghz: float = 3.5  # f_c, GHz (TR 38.901 UMi: 0.5-100 GHz)
    noise_figure_db: float = 5.0  # the ES receiver's noise figure, dB
    # each UD sees only its K nearest ESs (docs/environment.md, "Reach"); None: every ES
    nearest_servers: int | None = None
    # DNN split tasks (docs/environment.md, "DNN split tasks"): read by task_model "dnn"
    dnn_networks: tuple[str, ...] = ("mobilenet_v2", "resnet18", "vgg16")  # catalog names
    cycles_per_mac: float = 1.0  # CPU cycles per multiply-accumulate, UD and ES alike
    activation_bits: int = 8  # bits per uploaded activation element

    @property
    def split_tasks(self) -> bool:
        """Whether tasks are DNN inferences whose split point the UD chooses."""
        return self.task_model == "dnn"

    @property
    def reach(self) -> int:
        """The servers a UD sees: K = ``nearest_servers``, or M without reach."""
        return self.n_servers if self.nearest_servers is None else self.nearest_servers

    @property
    def queued(self) -> bool:
        """Whether tasks wait in per-UD queues and the backlogs carry over (a time-coupled
        preset), not the paper's slot model."""
        return self.queue_capacity > 0

    @property
    def gain_lin(self) -> tuple[float, float]:
        lo, hi = self.gain_db
        return float(db_to_linear(lo)), float(db_to_linear(hi))

    @property
    def subchannel_bw_hz(self) -> np.ndarray:
        """W/K per server, Hz."""
        return self.bandwidth_hz / self.subchannels

    @property
    def capacity(self) -> int:
        """Σ z_max: UDs that can be matched at once."""
        return int(self.z_max.sum())
