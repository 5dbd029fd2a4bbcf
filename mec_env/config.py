"""Presets, validation and unit conversion for the MEC environment.

Every quantity is converted to SI exactly once, here, when a preset is loaded:
bits, seconds, hertz, watts, joules, linear gains. The rest of the package never
sees MB, KB, dBm or dB.

Public config keys (docs/environment.md); a range is ``[low, high]``, a per-server key takes one
value or a list of length ``n_servers``:

=================== ======================================== ===============
key                 meaning                                  unit in config
=================== ======================================== ===============
n_servers           M, edge servers                          count
n_uds               N, user devices                          count
n_slots             T, slots per episode                     count
task_bytes          β range                                  bytes
cycles_per_bit      c range                                  cycles/bit
deadline_s          φ range                                  s
f_local_hz          [f_min, f_max] local CPU                 Hz
p_tx_dbm            [p_min, p_max] transmit power            dBm
battery_j           [b_min, b_max]                           J
harvest_mean_j      d, mean harvest per slot                 J
z_max               ES user capacity (per server)            count
subchannels         K (per server)                           count
n_cpus              U_m (per server)                         count
storage_bytes       D_m (per server)                         bytes
f_server_hz         f_s (per server)                         Hz
gain_db             g range, redrawn every slot              dB
kappa               κ, effective switched capacitance        J/(cycle·Hz²)
bandwidth_hz        W                                        Hz
rho_delay           ρ1 cost weight of delay                  1/s
rho_energy          ρ2 cost weight of energy                 1/J
matcher             registered matcher name                  -
admission           registered admission rule name           -
es_agents           ES agents decide admission               bool
es_action_space     ES action: "multibinary" or "box"        -
normalize_obs       observations scaled to about [0, 1]      bool
clip_actions        clip bad actions instead of raising      bool
render_mode         None, "ansi", "rgb_array" or "human"     -
arrivals            registered arrival process               -
task_model          registered task model                    -
channel_model       registered channel model                 -
mobility            registered mobility model                -
area_m              [W, H] of the map (channel "umi")        m
es_positions        ES sites [[x, y], ...] or None (grid)    m
ud_speed_mps        UD speed range (mobility models)         m/s
ud_pause_s          random waypoint pause                    s
mobility_memory     Gauss-Markov α                           -
carrier_ghz         f_c of the "umi" channel                 GHz
noise_figure_db     ES receiver noise figure ("umi")         dB
nearest_servers     K: a UD sees its K nearest ESs ("umi")   count or None
dnn_networks        networks a "dnn" task may be             names
cycles_per_mac      CPU cycles per MAC ("dnn" tasks)         cycles
activation_bits     bits per uploaded activation ("dnn")     bits
=================== ======================================== ===============
"""

from __future__ import annotations

import copy
import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from mec_env.admission import ADMISSIONS
from mec_env.errors import ConfigError
from mec_env.registry import Registry, UnknownNameError
from mec_env.sim import dnn
from mec_env.sim.channel import uplink_rate
from mec_env.sim.components import KINDS
from mec_env.sim.matchers import MATCHERS
from mec_env.sim.params import EnvConfig, db_to_linear, dbm_to_w

BITS_PER_BYTE = 8
MB = 10**6  # bytes
KB = 10**3  # bytes
MJ = 10**6  # joules


# Presets use the public config units (bytes, Hz, dBm, dB, J) so they read like the paper.
_PAPER: dict[str, Any] = {
    "n_servers": 3,
    "n_uds": 48,
    "n_slots": 10,
    "task_bytes": [1 * MB, 50 * MB],
    "cycles_per_bit": [300, 700],
    "deadline_s": [0.1, 1.0],
    "f_local_hz": [0.4e9, 1.5e9],
    "p_tx_dbm": [1.0, 24.0],
    "battery_j": [0.5 * MJ, 3.2 * MJ],
    "harvest_mean_j": 1e-3,
    "z_max": 16,
    "subchannels": 10,
    "n_cpus": 8,
    "storage_bytes": 400 * MB,
    "f_server_hz": 4e9,
    "gain_db": [5.0, 14.0],
    "kappa": 5e-27,
    "bandwidth_hz": 40e6,
    "rho_delay": 0.5,
    "rho_energy": 0.5,
    "matcher": "co_selection",
    "admission": "accept_all",
    "es_agents": True,
    "es_action_space": "multibinary",
    "normalize_obs": True,
    "clip_actions": False,
    "render_mode": None,
    # the scenario's components (mec_env.sim.components); the defaults are the paper's model
    "arrivals": "every_slot",
    "task_model": "uniform",
    "channel_model": "uniform_db",
    "mobility": "static",
    # tasks that wait (docs/environment.md, "Time-coupled presets"); 0: the paper's model
    "queue_capacity": 0,
    "slot_s": 0.1,
    "arrival_rate": 1.0,
    "burst_rate": 1.0,
    "burst_switch": [0.0, 0.0],
    "max_arrivals": 1,
    "drop_cost": 0.0,
    "battery_hard": False,
    # the map (docs/environment.md, "The map"); unused without positions
    "area_m": [500.0, 500.0],
    "es_positions": None,
    "ud_speed_mps": [1.0, 10.0],
    "ud_pause_s": 1.0,
    "mobility_memory": 0.75,
    "carrier_ghz": 3.5,
    "noise_figure_db": 5.0,
    # each UD sees, and can be matched to, only its K nearest ESs (docs/environment.md,
    # "Reach"); None: every ES (the paper's model)
    "nearest_servers": None,
    # DNN split tasks (docs/environment.md, "DNN split tasks"); read by task_model "dnn"
    "dnn_networks": ["mobilenet_v2", "resnet18", "vgg16"],
    "cycles_per_mac": 1.0,
    "activation_bits": 8,
}

_PAPER_KB = {**_PAPER, "task_bytes": [1 * KB, 50 * KB], "storage_bytes": 400 * KB}

_PAPER_ENERGY = {
    **_PAPER_KB,
    "n_slots": 100,
    # [decision] b_min keeps the paper's b_min/b_max ratio (0.5/3.2); 0.5 MJ would exceed b_max.
    "battery_j": [0.15625, 1.0],
    "rho_delay": 1.0,
    "rho_energy": 5.0,
}

_SMALL = {**_PAPER_KB, "n_uds": 6, "n_servers": 2, "z_max": 4, "subchannels": 2, "n_cpus": 2}

# Time-coupled presets (docs/environment.md, "Time-coupled presets"): paper_kb's tasks,
# devices and servers; the slot length, arrivals, deadline horizon and drop cost of Tang and
# Wong (IEEE TMC 2022; code mingt2019/Deep-Q-learning-for-mobile-edge-computing): Δ = 0.1 s,
# 100 slots, one task per UD per slot with probability 0.3, a dropped task costing twice the
# longest deadline's delay (ρ1·2·φ_max = 1); QECO (Rahmati et al., arXiv 2311.02525) sweeps
# the same setup's load up to 0.9 per device per slot.
_QUEUE = {
    **_PAPER_KB,
    "n_slots": 100,
    "slot_s": 0.1,
    "arrivals": "bernoulli",
    "arrival_rate": 0.3,
    # [decision] φ_max/Δ = 10: one dispatch per slot, so a task behind 10 others cannot start
    # before its deadline
    "queue_capacity": 10,
    "drop_cost": 1.0,
}
_QUEUE_HEAVY = {**_QUEUE, "arrival_rate": 0.9}
_QUEUE_SMALL = {**_QUEUE_HEAVY, "n_uds": 6, "n_servers": 2, "z_max": 4, "subchannels": 2,
                "n_cpus": 2, "n_slots": 20}  # fmt: skip
# LODCO's harvest (Mao, Zhang, Letaief, JSAC 2016): U[0, E_max] per slot at a mean power of
# 12 mW, here 1.2 mJ per Δ = 0.1 s; paper_energy's battery; a UD cannot spend what it lacks
_QUEUE_ENERGY = {**_QUEUE_HEAVY, "battery_j": [0.15625, 1.0], "harvest_mean_j": 1.2e-3,
                 "battery_hard": True}  # fmt: skip

# The map (docs/environment.md, "The map"): paper_kb's tasks, devices and servers, 3 ESs at
# UMi street-canyon sites in a 600 m square (about the 200 m inter-site distance of TR 38.901
# UMi, stretched so that a UD sees near and far servers), UDs by random waypoint at pedestrian
# to urban-vehicle speeds, 100 slots of 0.1 s; gains from the TR 38.901 UMi channel, clipped to
# [-10, 60] dB (observations are scaled by this range)
_URBAN_MOBILITY = {
    **_PAPER_KB,
    "n_slots": 100,
    "slot_s": 0.1,
    "channel_model": "umi",
    "mobility": "random_waypoint",
    "gain_db": [-10.0, 60.0],
    "area_m": [600.0, 600.0],
    "es_positions": [[150.0, 150.0], [450.0, 150.0], [300.0, 450.0]],
}

# DNN split tasks (docs/environment.md, "DNN split tasks"; docs/dnn_split.md): paper_kb's
# devices, servers, storage and deadlines; each task one inference of MobileNetV2, ResNet-18
# or VGG-16 on a 224×224 RGB image, int8 activations; [decision] 8 MACs per cycle on the UD
# and the ES alike (int8 dot products on a 128-bit SIMD unit at half its peak)
_DNN_SPLIT = {**_PAPER_KB, "task_model": "dnn", "cycles_per_mac": 0.125}
# small enough for the exact oracle over split points (at most 21^4 combinations a slot)
_DNN_SPLIT_SMALL = {**_DNN_SPLIT, "n_uds": 4, "n_servers": 2, "z_max": 4, "subchannels": 2,
                    "n_cpus": 2}  # fmt: skip

# A city (docs/environment.md, "Reach"): 300 ESs on a 200 m grid (TR 38.901 UMi's
# inter-site distance) over 3.6 km × 3.4 km, 4800 UDs by random waypoint (16 per ES, so
# Σ z_max = N as in paper_kb); each UD sees and can join only its 4 nearest ESs, so a UD-step
# costs the same whatever M; paper_kb's tasks, devices and ESs; 100 slots of 0.1 s
_CITY = {
    **_URBAN_MOBILITY,
    "n_uds": 4800,
    "n_servers": 300,
    "area_m": [3600.0, 3400.0],
    "es_positions": None,
    "nearest_servers": 4,
}


def _changes(preset: dict[str, Any]) -> dict[str, Any]:
    """The keys in which ``preset`` differs from ``paper_kb``."""
    return {k: v for k, v in preset.items() if _PAPER_KB[k] != v}


# DNN split tasks on the map with queues (docs/environment.md, "Combined: urban_split_queue"):
# paper_kb's devices and servers with urban_mobility's map (UMi gains, random waypoint),
# dnn_split's tasks and queue's time model (Δ = 0.1 s, 100 slots, queues of 10, a drop costing
# 1), at a Bernoulli rate of 0.15 tasks per UD per slot. [decision] The rate: 7.2 expected
# arrivals per slot against the 6 input images (1.2 Mbit each) that the three ESs' 3.2 Mbit
# stores take per slot, so whole-task offloading cannot keep up: a UD must split, run locally
# or wait. Measured (`ucms-eval algo=... env=urban_split_queue --episodes 10`, max_gain
# matching; cost per UD-slot, tasks dropped, mean wait of a served task): all_local 0.168
# (56 % dropped: a VGG-16 cannot finish locally), all_offload 0.048 (19 %, 93 ms), greedy
# 0.043 (13 %, 96 ms), best_split 0.030 (5 %, 66 ms), drift_plus_penalty 0.026 (0 %, 7 ms;
# it prices every split point).
# At queue's 0.3 it is hopeless (greedy drops 49 % of the tasks, best_split 34 %); at 0.03
# every offloading rule costs 0.004, its tasks waiting under 4 ms on average.
_URBAN_SPLIT_QUEUE = {
    **_PAPER_KB,
    **_changes(_QUEUE),
    **_changes(_URBAN_MOBILITY),
    **_changes(_DNN_SPLIT),
    "arrival_rate": 0.15,
}

PRESETS: dict[str, dict[str, Any]] = {
    "paper": _PAPER,
    "paper_kb": _PAPER_KB,
    "paper_energy": _PAPER_ENERGY,
    "small": _SMALL,
    "queue": _QUEUE,
    "queue_heavy": _QUEUE_HEAVY,
    "queue_small": _QUEUE_SMALL,
    "queue_energy": _QUEUE_ENERGY,
    "urban_mobility": _URBAN_MOBILITY,
    "city": _CITY,
    "dnn_split": _DNN_SPLIT,
    "dnn_split_small": _DNN_SPLIT_SMALL,
    "urban_split_queue": _URBAN_SPLIT_QUEUE,
}
DEFAULT_PRESET = "paper_kb"

_PER_SERVER_INT = ("z_max", "subchannels", "n_cpus")
_PER_SERVER_FLOAT = ("storage_bytes", "f_server_hz")
_RANGES = (
    "task_bytes",
    "cycles_per_bit",
    "deadline_s",
    "f_local_hz",
    "p_tx_dbm",
    "battery_j",
    "gain_db",
)
_RENDER_MODES = (None, "ansi", "rgb_array", "human")
# MultiBinary(z_max): one 0/1 bit per member place; Box(0, 1, (z_max,)) float32: approve iff
# >= 0.5 (so every agent acts in a Box, which SuperSuit's padding needs)
ES_ACTION_SPACES = ("multibinary", "box")


def preset(name: str) -> dict[str, Any]:
    """A deep copy of a preset's raw config (public units)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return copy.deepcopy(PRESETS[name])


def _fail(key: str, got: Any, allowed: str) -> ConfigError:
    return ConfigError(f"config key {key!r} got {got!r}; allowed: {allowed}")


def _is_number(x: Any) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


def _count(raw: dict, key: str, low: int = 1) -> int:
    v = raw[key]
    if isinstance(v, bool) or not isinstance(v, Integral) or v < low:
        raise _fail(key, v, f"an integer >= {low}")
    return int(v)


def _positive(raw: dict, key: str, allow_zero: bool = False) -> float:
    v = raw[key]
    if not _is_number(v) or not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise _fail(key, v, "a finite number " + (">= 0" if allow_zero else "> 0"))
    return float(v)


def _range(raw: dict, key: str, positive: bool = True) -> tuple[float, float]:
    v = raw[key]
    if isinstance(v, (str, bytes)) or not hasattr(v, "__len__") or len(v) != 2:
        raise _fail(key, v, "a [low, high] pair of numbers")
    lo, hi = v
    if not (_is_number(lo) and _is_number(hi)) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise _fail(key, v, "a [low, high] pair of finite numbers")
    if lo > hi:
        raise _fail(key, v, "low <= high")
    if positive and lo <= 0:
        raise _fail(key, v, "low > 0")
    return float(lo), float(hi)


def _per_server(raw: dict, key: str, m: int, integer: bool) -> np.ndarray:
    v = raw[key]
    values = list(v) if isinstance(v, (list, tuple, np.ndarray)) else [v]
    if len(values) == 1:
        values = values * m
    if len(values) != m:
        raise _fail(key, v, f"one value or a list of length n_servers={m}")
    for x in values:
        ok = (isinstance(x, Integral) and not isinstance(x, bool)) if integer else _is_number(x)
        if not ok or not math.isfinite(x) or x <= 0:
            kind = "integers >= 1" if integer else "finite numbers > 0"
            raise _fail(key, v, f"{kind}, one value or a list of length n_servers={m}")
    return np.asarray(values, dtype=np.int64 if integer else np.float64)


def _flag(raw: dict, key: str) -> bool:
    v = raw[key]
    if not isinstance(v, (bool, np.bool_)):
        raise _fail(key, v, "True or False")
    return bool(v)


def _component(raw: dict[str, Any], key: str, registry: Registry) -> str:
    """The registered name of the matcher or admission rule ``raw[key]``; an import path or an
    entry point is loaded and registered on first use (:class:`mec_env.registry.Registry`)."""
    name = raw[key]
    # isinstance first: an unhashable value (a list, a dict) must not escape as a TypeError
    if not isinstance(name, str):
        raise _fail(key, name, f"one of {registry.available()}")
    try:
        registry.get(name)
    except UnknownNameError:
        raise _fail(key, name, f"one of {registry.available()}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"config key {key!r}: {exc}") from None
    return name


def _merged(preset_name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The preset's raw config with ``overrides`` (deep-copied) merged in; unknown keys and a
    preset that is not a name are errors."""
    if not isinstance(preset_name, str):
        raise ConfigError(
            f"preset must be a name, got {preset_name!r}; choose one of {sorted(PRESETS)}"
        )
    raw = preset(preset_name)
    unknown = sorted(set(overrides) - set(raw))
    if unknown:
        raise ConfigError(f"unknown config key(s) {unknown}; known keys: {sorted(raw)}")
    raw.update(copy.deepcopy(overrides))
    return raw


def _scalars(raw: dict[str, Any]) -> tuple[float, float, float, float, float]:
    """(harvest_mean_j, kappa, bandwidth_hz, rho_delay, rho_energy), validated."""
    harvest = _positive(raw, "harvest_mean_j", allow_zero=True)
    if not math.isfinite(2.0 * harvest):  # harvest is drawn from U[0, 2 d]
        raise _fail(
            "harvest_mean_j",
            raw["harvest_mean_j"],
            "a finite number whose double is finite (harvest is drawn from U[0, 2*harvest_mean_j])",
        )
    kappa = _positive(raw, "kappa")
    bandwidth = _positive(raw, "bandwidth_hz")
    rho1 = _positive(raw, "rho_delay", allow_zero=True)
    rho2 = _positive(raw, "rho_energy", allow_zero=True)
    if rho1 + rho2 == 0:
        raise _fail("rho_delay", raw["rho_delay"], "rho_delay + rho_energy > 0")
    return harvest, kappa, bandwidth, rho1, rho2


def _check_choices(raw: dict[str, Any]) -> None:
    """The flags, the matcher, admission rule and scenario components (registered, or loaded
    by import path or entry point), the ES action space and the render mode."""
    for key in ("es_agents", "normalize_obs", "clip_actions"):
        _flag(raw, key)
    _component(raw, "matcher", MATCHERS)
    _component(raw, "admission", ADMISSIONS)
    for key, (registry, base) in KINDS.items():
        cls = registry.get(_component(raw, key, registry))
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise _fail(key, raw[key], f"a subclass of {base.__module__}.{base.__qualname__}")
    if not isinstance(raw["es_action_space"], str) or (
        raw["es_action_space"] not in ES_ACTION_SPACES
    ):
        raise _fail("es_action_space", raw["es_action_space"], f"one of {list(ES_ACTION_SPACES)}")
    if raw["render_mode"] not in _RENDER_MODES:
        raise _fail("render_mode", raw["render_mode"], f"one of {list(_RENDER_MODES)}")


def _check_feasible(raw: dict[str, Any], ranges: dict[str, tuple[float, float]]) -> None:
    """Ranges that are valid one by one but not together: b_min < b_max, and a gain high
    enough for a positive uplink rate at p_min."""
    b_min, b_max = ranges["battery_j"]
    if b_min >= b_max:
        raise _fail("battery_j", raw["battery_j"], "b_min < b_max")
    p_lo = ranges["p_tx_dbm"][0]
    # g is the normalised gain h/σ² of eq. (5). A raw path loss (say -150 dB) makes
    # log2(1 + p g) round to 0 at p_min: infinite upload times, NaN costs when a weight is 0.
    if not uplink_rate(1.0, dbm_to_w(p_lo), db_to_linear(ranges["gain_db"][0])) > 0.0:
        raise _fail(
            "gain_db",
            raw["gain_db"],
            "a normalised gain h/σ² (eq. 5) in dB high "
            f"enough that the uplink rate at p_min = {p_lo} dBm is > 0 (about "
            f"{-129.5 - p_lo:.0f} dB or more); raise gain_db or p_tx_dbm",
        )


def _time_keys(raw: dict[str, Any]) -> dict[str, Any]:
    """The keys of the time-coupled model (docs/environment.md, "Time-coupled presets"),
    validated: only checked beyond their types when ``queue_capacity`` >= 1 turns it on."""
    capacity = _count(raw, "queue_capacity", low=0)
    keys = {
        "queue_capacity": capacity,
        "slot_s": _positive(raw, "slot_s"),
        "arrival_rate": _positive(raw, "arrival_rate", allow_zero=True),
        "burst_rate": _positive(raw, "burst_rate", allow_zero=True),
        "max_arrivals": _count(raw, "max_arrivals"),
        "drop_cost": _positive(raw, "drop_cost", allow_zero=True),
        "battery_hard": _flag(raw, "battery_hard"),
    }
    # a pair of probabilities, not a range: [P(calm→burst), P(burst→calm)]
    switch = raw["burst_switch"]
    if (
        isinstance(switch, (str, bytes))
        or not hasattr(switch, "__len__")
        or len(switch) != 2
        or not all(_is_number(x) and 0.0 <= x <= 1.0 for x in switch)
    ):
        raise _fail(
            "burst_switch", switch, "[P(calm->burst), P(burst->calm)], two probabilities in [0, 1]"
        )
    keys["burst_switch"] = (float(switch[0]), float(switch[1]))
    if capacity == 0:
        if raw["arrivals"] != "every_slot":
            raise _fail(
                "arrivals", raw["arrivals"],
                "'every_slot' unless queue_capacity >= 1 (arrivals that can queue need a queue)",
            )  # fmt: skip
        if keys["battery_hard"]:
            raise _fail("battery_hard", True, "False unless queue_capacity >= 1")
    elif raw["arrivals"] == "bernoulli" and keys["arrival_rate"] > 1.0:
        raise _fail("arrival_rate", raw["arrival_rate"], "a probability in [0, 1] with 'bernoulli'")
    elif capacity < keys["max_arrivals"]:
        raise _fail("queue_capacity", capacity, f">= max_arrivals = {keys['max_arrivals']}")
    return keys


def _map_keys(raw: dict[str, Any], m: int) -> dict[str, Any]:
    """The keys of the map (docs/environment.md, "The map"), validated; the "umi" channel
    needs a mobility model with positions."""
    area = raw["area_m"]
    if (
        isinstance(area, (str, bytes))
        or not hasattr(area, "__len__")
        or len(area) != 2
        or not all(_is_number(x) and math.isfinite(x) and x > 0 for x in area)
    ):
        raise _fail("area_m", area, "[width, height], two finite numbers > 0 (m)")
    area = (float(area[0]), float(area[1]))
    keys: dict[str, Any] = {
        "area_m": area,
        "ud_speed_mps": _range(raw, "ud_speed_mps"),
        "ud_pause_s": _positive(raw, "ud_pause_s", allow_zero=True),
        "noise_figure_db": _positive(raw, "noise_figure_db", allow_zero=True),
    }
    alpha = raw["mobility_memory"]
    if not _is_number(alpha) or not 0.0 <= alpha <= 1.0:
        raise _fail("mobility_memory", alpha, "a number in [0, 1] (the Gauss-Markov memory α)")
    keys["mobility_memory"] = float(alpha)
    fc = raw["carrier_ghz"]
    if not _is_number(fc) or not 0.5 <= fc <= 100.0:
        raise _fail("carrier_ghz", fc, "a number in [0.5, 100] (TR 38.901's range, GHz)")
    keys["carrier_ghz"] = float(fc)
    keys["es_positions_m"] = _sites(raw["es_positions"], m, area)
    if raw["channel_model"] == "umi" and raw["mobility"] == "static":
        raise _fail("mobility", "static", "a model with positions with channel_model 'umi'")
    keys["nearest_servers"] = _reach(raw, m)
    return keys


def _reach(raw: dict[str, Any], m: int) -> int | None:
    """``nearest_servers``: None (every ES) or K in 1..M, only on the map (channel "umi")."""
    k = raw["nearest_servers"]
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, Integral) or not 1 <= k <= m:
        raise _fail("nearest_servers", k, f"None or an integer in 1..n_servers={m}")
    if raw["channel_model"] != "umi":
        raise _fail("nearest_servers", k, "None unless channel_model is 'umi' (the map)")
    return int(k)


def _sites(v: Any, m: int, area: tuple[float, float]) -> np.ndarray | None:
    """``es_positions``: None (a regular grid) or M [x, y] pairs inside the area."""
    if v is None:
        return None
    allowed = f"None or n_servers={m} [x, y] pairs inside area_m {list(area)}"
    try:
        sites = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail("es_positions", v, allowed) from None
    inside = np.all((sites >= 0) & (sites <= np.asarray(area))) if sites.shape == (m, 2) else False
    if not inside:
        raise _fail("es_positions", v, allowed)
    return sites


def _dnn_keys(raw: dict[str, Any], ranges: dict) -> dict[str, Any]:
    """The keys of DNN split tasks, validated (docs/environment.md, "DNN split tasks"); with
    ``task_model: dnn`` they set the β and c ``ranges`` (:func:`_dnn_ranges`)."""
    nets = raw["dnn_networks"]
    names = dnn.network_names()
    if (
        isinstance(nets, (str, bytes))
        or not hasattr(nets, "__len__")
        or len(nets) == 0
        or not all(isinstance(x, str) and x in names for x in nets)
        or len(set(nets)) != len(nets)
    ):
        raise _fail("dnn_networks", nets, f"a non-empty list of distinct names from {list(names)}")
    bits = raw["activation_bits"]
    if isinstance(bits, bool) or not isinstance(bits, Integral) or not 1 <= bits <= 64:
        raise _fail("activation_bits", bits, "an integer in 1..64")
    keys = {
        "dnn_networks": tuple(nets),
        "cycles_per_mac": _positive(raw, "cycles_per_mac"),
        "activation_bits": int(bits),
    }
    if raw["task_model"] == "dnn":
        _dnn_ranges(raw, keys, ranges)
    return keys


def _dnn_ranges(raw: dict[str, Any], keys: dict[str, Any], ranges: dict) -> None:
    """**[decision]** A DNN task's β and c come from the catalog, not from ``task_bytes`` and
    ``cycles_per_bit`` (docs/environment.md, "DNN split tasks"): β the input image, c each
    network's cycles per input bit; sets those two ``ranges`` (bytes, cycles/bit)."""
    plan = dnn.SplitPlan.of(keys["dnn_networks"], keys["cycles_per_mac"], keys["activation_bits"])
    cpb = plan.cycles_per_bit
    if np.unique(cpb).size != cpb.size:
        raise _fail("dnn_networks", raw["dnn_networks"], "networks of different sizes")
    image = float(plan.input_bits[0]) / BITS_PER_BYTE
    ranges["task_bytes"] = (image, image)
    ranges["cycles_per_bit"] = (float(cpb.min()), float(cpb.max()))


def make_config(preset_name: str = DEFAULT_PRESET, **overrides: Any) -> EnvConfig:
    """Merge ``overrides`` into a preset, validate every key and convert to SI.

    Raises :class:`ConfigError` (a ``ValueError``) naming the key, the value and the allowed
    range, before any episode runs.
    """
    raw = _merged(preset_name, overrides)
    m = _count(raw, "n_servers")
    n = _count(raw, "n_uds")
    t = _count(raw, "n_slots")
    ranges = {k: _range(raw, k, positive=k not in ("p_tx_dbm", "gain_db")) for k in _RANGES}
    per_int = {k: _per_server(raw, k, m, integer=True) for k in _PER_SERVER_INT}
    per_float = {k: _per_server(raw, k, m, integer=False) for k in _PER_SERVER_FLOAT}
    harvest, kappa, bandwidth, rho1, rho2 = _scalars(raw)
    _check_choices(raw)
    _check_feasible(raw, ranges)
    # the time-coupled model's, the map's and DNN split tasks' keys (these set β, c ranges)
    extra = {**_time_keys(raw), **_map_keys(raw, m), **_dnn_keys(raw, ranges)}
    b_min, b_max = ranges["battery_j"]
    lo, hi = ranges["task_bytes"]
    p_lo, p_hi = ranges["p_tx_dbm"]
    return EnvConfig(
        n_servers=m,
        n_uds=n,
        n_slots=t,
        task_bits=(lo * BITS_PER_BYTE, hi * BITS_PER_BYTE),
        cycles_per_bit=ranges["cycles_per_bit"],
        deadline_s=ranges["deadline_s"],
        f_min_hz=ranges["f_local_hz"][0],
        f_max_hz=ranges["f_local_hz"][1],
        p_min_w=float(dbm_to_w(p_lo)),
        p_max_w=float(dbm_to_w(p_hi)),
        b_min_j=b_min,
        b_max_j=b_max,
        harvest_mean_j=harvest,
        z_max=per_int["z_max"],
        subchannels=per_int["subchannels"],
        n_cpus=per_int["n_cpus"],
        storage_bits=per_float["storage_bytes"] * BITS_PER_BYTE,
        f_server_hz=per_float["f_server_hz"],
        gain_db=ranges["gain_db"],
        kappa=kappa,
        bandwidth_hz=bandwidth,
        rho_delay=rho1,
        rho_energy=rho2,
        matcher=raw["matcher"],
        admission=raw["admission"],
        es_agents=bool(raw["es_agents"]),
        es_action_space=raw["es_action_space"],
        normalize_obs=bool(raw["normalize_obs"]),
        clip_actions=bool(raw["clip_actions"]),
        render_mode=raw["render_mode"],
        arrivals=raw["arrivals"],
        task_model=raw["task_model"],
        channel_model=raw["channel_model"],
        mobility=raw["mobility"],
        raw=raw,
        **extra,
    )
