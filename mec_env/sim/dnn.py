"""DNN split-point tasks: a small catalog of real networks and the pure cost of a split.

A task is one inference of a DNN from the catalog. The UD picks a split point s in 0..L (L the
network's number of *split units*): units 1..s run on the UD, the activation after unit s is
uploaded, units s+1..L run on the ES. s = 0 uploads the input image and runs everything on the
ES; s = L runs everything on the UD and uploads nothing. docs/dnn_split.md is the page.

## The catalog

Three architectures of different shape, written below as explicit layer lists in pure Python
(no torch): ``mobilenet_v2`` (Sandler et al., CVPR 2018; width 1.0), ``resnet18`` (He et al.,
CVPR 2016) and ``vgg16`` (Simonyan and Zisserman, ICLR 2015; configuration D), each on a
3×224×224 input with a 1000-class head, laid out as torchvision builds them. :func:`walk`
follows a network from the input shape and gives, per split unit, the multiply-accumulates
(MACs; **FLOPs = 2·MACs**, the convention of the well-known figures 300 M / 1.8 G / 15.5 G is
MACs), the parameters and the output activation's shape, element count and bits.

* A convolution k×k with C_in input and C_out output channels, g groups, on an H_o×W_o output
  costs C_out·H_o·W_o·(C_in/g)·k² MACs (H_o = ⌊(H + 2·pad − k)/stride⌋ + 1); a linear layer
  C_in·C_out. **[decision]** Only these count: batch norm folds into its convolution at
  inference, ReLU/ReLU6, pooling, the residual addition and bias adds are comparisons and
  additions, not MACs (at one operation per activation element, about 2 % of MobileNetV2's
  work, under 0.3 % of the others').
* Parameters: weights, biases where a layer has one, and batch norm's γ and β (2·C_out; its
  running statistics are buffers), as torchvision counts them.
* **[decision] Split units.** A split point lies between two units, never inside one:
  MobileNetV2's stem, 17 inverted-residual blocks, the last 1×1 conv and the classifier
  (L = 20); ResNet-18's stem (conv1 + max-pool), 8 basic blocks and the head (global
  average pool + fc) (L = 10); VGG-16's 13 convolutions and 3 fully connected layers, each max
  pool folded into the convolution before it (L = 16): nobody would upload the activation
  just before a pool that quarters it for almost no work. A residual block cannot be cut
  inside, since its input is needed again at its end.
* **[decision] Element width.** Activations are 8-bit quantised (int8 inference, as on edge
  accelerators), so a unit's output of E elements is 8·E bits; the input is a 24-bit RGB
  image, 3·224·224·8 = 1,204,224 bits. :func:`split_profile` takes another width for the
  activations (e.g. 32 for float32) without touching the input.

``python -m mec_env.sim.dnn`` recomputes the catalog and writes ``mec_env/data/
dnn_catalog.json`` (``--markdown`` prints the tables of docs/dnn_split.md instead); at run
time :func:`load_catalog` only reads that file (``tests/env/test_dnn_split.py`` checks the two
agree).

## The split physics

**[decision] Cycles per MAC.** The env's compute model counts CPU cycles (eq. 3: τ = cycles/f),
so MACs become cycles with one constant per device kind, :data:`UD_CYCLES_PER_MAC` and
:data:`ES_CYCLES_PER_MAC`, both 1 by default (one MAC per cycle, a scalar core with a
fused multiply-add: the UD/ES speed ratio is then f/f_s, as in the paper's model); a SIMD or
GPU device is a smaller constant (e.g. 1/16 for int8 dot products on 128-bit NEON at peak).
With a profile P(s) = (local cycles C^l(s), upload bits β(s), remote cycles C^r(s)),
every cost is a rule of :mod:`mec_env.sim.compute` and :mod:`mec_env.sim.channel`:

    τ^l = C^l(s) / f            e^l = κ C^l(s) f²           (eqs. 3, 4)
    τ^o = β(s) / v              e^o = p τ^o                 (eqs. 7, 10)
    τ^p = C^r(s) / f_s                                      (eq. 8)
    τ   = τ^l + τ^o + τ^p       e   = e^l + e^o             (idle ES CPU; the ES queue is the
                                                             caller's, eq. 9)

A part with no work costs nothing whatever the rate or server (s = L with v = 0 is finite).
:func:`best_split` minimises ρ1 τ + ρ2 e (plus ρ1 max(τ − φ, 0) given a deadline) over all
L + 1 splits at once, vectorised over any leading axes.

**[decision] Decision entry → split.** A UD's continuous action entry a ∈ [0, 1] maps to
s = min(⌊a·(L + 1)⌋, L) (:func:`split_from_decision`): L + 1 bins of equal width, a = 1 in the
last; :func:`decision_for_split` gives the bin's centre (s + 0.5)/(L + 1) back.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np

from mec_env.sim import channel, compute
from mec_env.sim.components import TASK_MODELS, TaskModel
from mec_env.sim.state import gain_at

INPUT_SHAPE = (3, 224, 224)  # C, H, W: an RGB image
INPUT_ELEMENT_BITS = 8  # 24-bit RGB: 8 bits per channel value
ELEMENT_BITS = 8  # int8-quantised activations
UD_CYCLES_PER_MAC = 1.0  # UD CPU cycles per multiply-accumulate
ES_CYCLES_PER_MAC = 1.0  # ES CPU cycles per multiply-accumulate
CATALOG_FILE = "dnn_catalog.json"
CATALOG_PATH = Path(__file__).resolve().parent.parent / "data" / CATALOG_FILE
CATALOG_FORMAT = 1

# ----------------------------------------------------------------------------- layer specs


@dataclass(frozen=True)
class Conv:
    """A k×k convolution (bias-free and batch-normed unless told; BN and the activation
    after it are folded in)."""

    name: str
    cin: int
    cout: int
    k: int
    stride: int = 1
    pad: int = 0
    groups: int = 1
    bias: bool = False
    bn: bool = True


@dataclass(frozen=True)
class Pool:
    """Max or average pooling, k×k; ``k = 0`` is a global pool to C×1×1. No MACs."""

    name: str
    k: int
    stride: int = 1
    pad: int = 0
    kind: str = "max"


@dataclass(frozen=True)
class Linear:
    """A fully connected layer on the flattened input (with its bias)."""

    name: str
    cin: int
    cout: int
    bias: bool = True


Layer = Conv | Pool | Linear


@dataclass(frozen=True)
class Unit:
    """A split unit: ``layers`` in order; ``shortcut`` is None for a plain unit, ``()`` for an
    identity residual, or the projection layers of a residual (output = main + shortcut)."""

    name: str
    layers: tuple[Layer, ...]
    shortcut: tuple[Layer, ...] | None = None


@dataclass(frozen=True)
class Network:
    name: str
    units: tuple[Unit, ...]
    source: str
    input_shape: tuple[int, int, int] = INPUT_SHAPE


def _conv_out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def layer_cost(layer: Layer, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int, int]:
    """``(output shape, MACs, parameters)`` of ``layer`` on an input of ``shape``."""
    if isinstance(layer, Linear):
        if math.prod(shape) != layer.cin:
            raise ValueError(f"{layer.name}: expects {layer.cin} inputs, got shape {shape}")
        weights = layer.cin * layer.cout
        return (layer.cout,), weights, weights + layer.bias * layer.cout
    if len(shape) != 3:
        raise ValueError(f"{layer.name}: needs a C×H×W input, got shape {shape}")
    c, h, w = shape
    if isinstance(layer, Pool):
        if layer.k == 0:
            return (c, 1, 1), 0, 0
        k, s, p = layer.k, layer.stride, layer.pad
        return (c, _conv_out(h, k, s, p), _conv_out(w, k, s, p)), 0, 0
    if c != layer.cin or layer.cin % layer.groups or layer.cout % layer.groups:
        raise ValueError(
            f"{layer.name}: {layer.cin}→{layer.cout} channels in {layer.groups} groups "
            f"on an input of shape {shape}"
        )
    ho = _conv_out(h, layer.k, layer.stride, layer.pad)
    wo = _conv_out(w, layer.k, layer.stride, layer.pad)
    per_output = (layer.cin // layer.groups) * layer.k * layer.k
    macs = layer.cout * ho * wo * per_output
    params = layer.cout * per_output + layer.bias * layer.cout + 2 * layer.bn * layer.cout
    return (layer.cout, ho, wo), macs, params


def _path_cost(layers: Sequence[Layer], shape: tuple[int, ...]):
    macs = params = 0
    for layer in layers:
        shape, m, p = layer_cost(layer, shape)
        macs, params = macs + m, params + p
    return shape, macs, params


def unit_cost(unit: Unit, shape: tuple[int, ...]) -> tuple[tuple[int, ...], int, int]:
    """``(output shape, MACs, parameters)`` of a split unit, its shortcut included."""
    out, macs, params = _path_cost(unit.layers, shape)
    if unit.shortcut is not None:
        short, m, p = _path_cost(unit.shortcut, shape)
        if short != out:
            raise ValueError(f"{unit.name}: shortcut gives {short}, main path {out}")
        macs, params = macs + m, params + p
    return out, macs, params


def walk(network: Network) -> list[dict]:
    """Per split unit, from the input shape: name, layer names, MACs, parameters, output
    shape, elements and bits (at :data:`ELEMENT_BITS` per element)."""
    shape: tuple[int, ...] = network.input_shape
    rows = []
    for unit in network.units:
        shape, macs, params = unit_cost(unit, shape)
        layers = [layer.name for layer in (*unit.layers, *(unit.shortcut or ()))]
        elements = math.prod(shape)
        rows.append(
            {
                "name": unit.name,
                "layers": layers,
                "macs": macs,
                "params": params,
                "out_shape": list(shape),
                "out_elements": elements,
                "out_bits": elements * ELEMENT_BITS,
            }
        )
    return rows


# ----------------------------------------------------------------------------- architectures

VGG16_STAGES = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (channels, convs)
# MobileNetV2's inverted residual settings: expansion t, channels c, repeats n, first stride s
MOBILENET_V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def vgg16() -> Network:
    """VGG-16 (configuration D): 13 3×3 convolutions with bias and no batch norm, five 2×2
    max pools, three fully connected layers; a pool joins the unit of the conv before it."""
    units, cin = [], 3
    for stage, (cout, convs) in enumerate(VGG16_STAGES, start=1):
        for i in range(1, convs + 1):
            name = f"conv{stage}_{i}"
            layers: tuple[Layer, ...] = (Conv(name, cin, cout, 3, 1, 1, bias=True, bn=False),)
            if i == convs:
                layers += (Pool(f"pool{stage}", 2, 2),)
                name += f"+pool{stage}"
            units.append(Unit(name, layers))
            cin = cout
    for name, fin, fout in (("fc6", 512 * 7 * 7, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 1000)):
        units.append(Unit(name, (Linear(name, fin, fout),)))
    return Network("vgg16", tuple(units), "Simonyan and Zisserman, ICLR 2015 (configuration D)")


def _basic_block(name: str, cin: int, cout: int, stride: int) -> Unit:
    main = (
        Conv(f"{name}.conv1", cin, cout, 3, stride, 1),
        Conv(f"{name}.conv2", cout, cout, 3, 1, 1),
    )
    projection = stride != 1 or cin != cout
    shortcut = (Conv(f"{name}.downsample", cin, cout, 1, stride),) if projection else ()
    return Unit(name, main, shortcut)


def resnet18() -> Network:
    """ResNet-18: the 7×7 stem and its max pool, 8 basic blocks (1×1 projection where the
    shape changes), global average pool and fc."""
    units = [Unit("stem", (Conv("conv1", 3, 64, 7, 2, 3), Pool("maxpool", 3, 2, 1)))]
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512), start=1):
        for i in range(2):
            stride = 2 if stage > 1 and i == 0 else 1
            units.append(_basic_block(f"layer{stage}.{i}", cin, cout, stride))
            cin = cout
    units.append(Unit("head", (Pool("avgpool", 0, kind="avg"), Linear("fc", 512, 1000))))
    return Network("resnet18", tuple(units), "He et al., CVPR 2016 (18 layers, basic blocks)")


def _inverted_residual(name: str, cin: int, cout: int, stride: int, expand: int) -> Unit:
    hidden = cin * expand
    layers: tuple[Layer, ...] = ()
    if expand != 1:
        layers += (Conv(f"{name}.expand", cin, hidden, 1),)
    layers += (
        Conv(f"{name}.depthwise", hidden, hidden, 3, stride, 1, groups=hidden),
        Conv(f"{name}.project", hidden, cout, 1),
    )
    return Unit(name, layers, () if stride == 1 and cin == cout else None)


def mobilenet_v2() -> Network:
    """MobileNetV2, width 1.0: the 3×3 stem, 17 inverted-residual blocks (identity residual
    where stride 1 and channels match), the 1×1 conv to 1280, global average pool and fc."""
    units = [Unit("features.0", (Conv("features.0.conv", 3, 32, 3, 2, 1),))]
    cin, index = 32, 1
    for expand, cout, repeats, stride in MOBILENET_V2_SETTINGS:
        for i in range(repeats):
            block_stride = stride if i == 0 else 1
            units.append(_inverted_residual(f"features.{index}", cin, cout, block_stride, expand))
            cin, index = cout, index + 1
    units.append(Unit(f"features.{index}", (Conv(f"features.{index}.conv", cin, 1280, 1),)))
    units.append(
        Unit("classifier", (Pool("avgpool", 0, kind="avg"), Linear("classifier.fc", 1280, 1000)))
    )
    return Network("mobilenet_v2", tuple(units), "Sandler et al., CVPR 2018 (width 1.0)")


ARCHITECTURES = {"mobilenet_v2": mobilenet_v2, "resnet18": resnet18, "vgg16": vgg16}

# ----------------------------------------------------------------------------- the catalog


def compute_catalog() -> dict:
    """The catalog from the layer specs (what ``dnn_catalog.json`` holds)."""
    input_elements = math.prod(INPUT_SHAPE)
    networks = {}
    for name, build in ARCHITECTURES.items():
        net = build()
        units = walk(net)
        networks[name] = {
            "source": net.source,
            "n_units": len(units),
            "total_macs": sum(u["macs"] for u in units),
            "total_params": sum(u["params"] for u in units),
            "input_elements": input_elements,
            "input_bits": input_elements * INPUT_ELEMENT_BITS,
            "units": units,
        }
    return {
        "format": CATALOG_FORMAT,
        "input_shape": list(INPUT_SHAPE),
        "input_element_bits": INPUT_ELEMENT_BITS,
        "element_bits": ELEMENT_BITS,
        "macs_note": "multiply-accumulates of conv and linear layers; FLOPs = 2 * MACs",
        "networks": networks,
    }


def catalog_json(catalog: dict) -> str:
    """The file's exact text for ``catalog``."""
    return json.dumps(catalog, indent=1) + "\n"


@functools.lru_cache(maxsize=1)
def _catalog_text() -> str:
    return resources.files("mec_env").joinpath("data", CATALOG_FILE).read_text(encoding="utf-8")


def load_catalog() -> dict:
    """The shipped catalog (read from the package data, never recomputed); a fresh dict."""
    return json.loads(_catalog_text())


@functools.cache
def _network(name: str) -> dict:
    networks = load_catalog()["networks"]
    if name not in networks:
        raise KeyError(f"unknown network {name!r}; the catalog has {sorted(networks)}")
    return networks[name]


def network_names() -> tuple[str, ...]:
    return tuple(load_catalog()["networks"])


# ----------------------------------------------------------------------------- split physics


class SplitProfile(NamedTuple):
    """Per split s = 0..L (last axis): cycles on the UD (units 1..s), bits uploaded (the
    input at s = 0, unit s's output for 0 < s < L, nothing at s = L) and cycles on the ES
    (units s+1..L)."""

    local_cycles: np.ndarray
    upload_bits: np.ndarray
    remote_cycles: np.ndarray


def split_profile(
    net: str,
    ud_cycles_per_mac: float = UD_CYCLES_PER_MAC,
    es_cycles_per_mac: float = ES_CYCLES_PER_MAC,
    element_bits: int = ELEMENT_BITS,
) -> SplitProfile:
    """The (L + 1,) profile of catalog network ``net``; activations at ``element_bits`` per
    element (the input stays 24-bit RGB)."""
    entry = _network(net)
    macs = np.array([0] + [u["macs"] for u in entry["units"]], dtype=np.int64)
    cumulative = np.cumsum(macs)  # exact integers: local + remote = total exactly
    elements = np.array([u["out_elements"] for u in entry["units"]], dtype=np.float64)
    upload = np.concatenate([[entry["input_bits"]], elements[:-1] * element_bits, [0.0]])
    return SplitProfile(
        local_cycles=cumulative * ud_cycles_per_mac,
        upload_bits=upload.astype(np.float64),
        remote_cycles=(cumulative[-1] - cumulative) * es_cycles_per_mac,
    )


class SplitTable(NamedTuple):
    """Profiles of several networks padded to one length: ``profile`` arrays (K, L_max + 1),
    columns past a network's L repeat its s = L (all local, nothing uploaded)."""

    names: tuple[str, ...]
    n_units: np.ndarray  # (K,) int64
    profile: SplitProfile

    def for_tasks(self, net_index: np.ndarray) -> SplitProfile:
        """The profile of each task's network: arrays ``net_index.shape + (L_max + 1,)``."""
        return SplitProfile(*(a[np.asarray(net_index)] for a in self.profile))


def split_table(nets: Sequence[str] | None = None, **profile_kwargs) -> SplitTable:
    """:class:`SplitTable` of ``nets`` (default: the whole catalog, in its order)."""
    names = tuple(nets) if nets is not None else network_names()
    profiles = [split_profile(n, **profile_kwargs) for n in names]
    width = max(len(p.local_cycles) for p in profiles)
    padded = [
        np.stack([np.pad(p[i], (0, width - len(p[i])), mode="edge") for p in profiles])
        for i in range(3)
    ]
    n_units = np.array([len(p.local_cycles) - 1 for p in profiles], dtype=np.int64)
    return SplitTable(names, n_units, SplitProfile(*padded))


class SplitCosts(NamedTuple):
    """The parts of a split's cost, in s and J."""

    local_delay_s: np.ndarray
    local_energy_j: np.ndarray
    upload_delay_s: np.ndarray
    upload_energy_j: np.ndarray
    remote_delay_s: np.ndarray

    @property
    def delay_s(self) -> np.ndarray:
        """τ = τ^l + τ^o + τ^p (an idle ES CPU)."""
        return self.local_delay_s + self.upload_delay_s + self.remote_delay_s

    @property
    def energy_j(self) -> np.ndarray:
        """e = e^l + e^o (the ES's energy is not counted, eq. 10)."""
        return self.local_energy_j + self.upload_energy_j


def profile_costs(
    profile: SplitProfile, f_local_hz, f_server_hz, rate_bps, p_w, kappa
) -> SplitCosts:
    """Elementwise costs of the profile's entries (everything broadcasts): the rules of
    :mod:`mec_env.sim.compute` and :mod:`mec_env.sim.channel` with C^l, C^r as β·c (c = 1);
    a part with no work costs 0 even at a zero frequency or rate."""
    local, bits, remote = (np.asarray(a, dtype=np.float64) for a in profile)
    with np.errstate(divide="ignore", invalid="ignore"):
        local_s = np.where(local > 0, compute.local_delay(local, 1.0, f_local_hz), 0.0)
        upload_s = np.where(bits > 0, channel.upload_delay(bits, rate_bps), 0.0)
        remote_s = np.where(remote > 0, compute.processing_delay(remote, 1.0, f_server_hz), 0.0)
    return SplitCosts(
        local_delay_s=local_s,
        local_energy_j=compute.local_energy(local, 1.0, f_local_hz, kappa),
        upload_delay_s=upload_s,
        upload_energy_j=np.where(bits > 0, compute.offload_energy(p_w, upload_s), 0.0),
        remote_delay_s=remote_s,
    )


def at_split(profile: SplitProfile, split_index) -> SplitProfile:
    """The profile's entries at ``split_index`` (any shape, broadcast against the
    profile's leading axes)."""
    split = np.asarray(split_index)
    n_units = np.shape(profile.local_cycles)[-1] - 1
    if not np.issubdtype(split.dtype, np.integer) or split.min(initial=0) < 0:
        raise ValueError(f"split indices must be integers in 0..{n_units}, got {split_index!r}")
    if split.max(initial=0) > n_units:
        raise ValueError(
            f"split index {split.max()} past L = {n_units}; map decisions with split_from_decision"
        )
    out = []
    for column in profile:
        column = np.asarray(column)
        shape = np.broadcast_shapes(column.shape[:-1], split.shape)
        full = np.broadcast_to(column, shape + column.shape[-1:])
        index = np.broadcast_to(split, shape)[..., None]
        out.append(np.take_along_axis(full, index, axis=-1)[..., 0])
    return SplitProfile(*out)


def split_costs(
    profile: SplitProfile, split_index, f_local_hz, f_server_hz, rate_bps, p_w, kappa
) -> SplitCosts:
    """The cost parts of each task at its split: ``split_index`` (B, N) int, the profile
    (L + 1,) or (B, N, L + 1), the rest scalars or (B, N); SI units."""
    return profile_costs(
        at_split(profile, split_index), f_local_hz, f_server_hz, rate_bps, p_w, kappa
    )


def _last_axis(x):
    return np.asarray(x, dtype=np.float64)[..., None]


def all_split_costs(
    profile: SplitProfile, f_local_hz, f_server_hz, rate_bps, p_w, kappa
) -> SplitCosts:
    """The cost parts of every split at once: parameters (B, N) (or scalars) against the
    profile's last axis, arrays (B, N, L + 1)."""
    params = (_last_axis(a) for a in (f_local_hz, f_server_hz, rate_bps, p_w))
    return profile_costs(profile, *params, kappa)


def best_split(
    profile: SplitProfile,
    f_local_hz,
    f_server_hz,
    rate_bps,
    p_w,
    kappa: float,
    rho_delay: float,
    rho_energy: float,
    deadline_s=None,
) -> tuple[np.ndarray, np.ndarray]:
    """The best-split rule: per task the split with the least ρ1 τ + ρ2 e (plus
    ρ1 max(τ − φ, 0) if ``deadline_s`` is given, as the heuristics score), over all L + 1
    splits; ties go to the smaller split. Returns ``(split index int64, objective)``."""
    costs = all_split_costs(profile, f_local_hz, f_server_hz, rate_bps, p_w, kappa)
    if deadline_s is None:
        objective = compute.cost(rho_delay, rho_energy, costs.delay_s, costs.energy_j)
    else:
        objective = compute.late_penalty_cost(
            rho_delay, rho_energy, costs.delay_s, costs.energy_j, _last_axis(deadline_s)
        )
    best = np.argmin(objective, axis=-1)
    return best.astype(np.int64), np.take_along_axis(objective, best[..., None], -1)[..., 0]


def split_from_decision(decision, n_units) -> np.ndarray:
    """A decision entry a ∈ [0, 1] (clipped) to a split s = min(⌊a·(L + 1)⌋, L), int64."""
    a = np.clip(np.asarray(decision, dtype=np.float64), 0.0, 1.0)
    n_units = np.asarray(n_units, dtype=np.int64)
    return np.minimum(np.floor(a * (n_units + 1)).astype(np.int64), n_units)


def decision_for_split(split_index, n_units) -> np.ndarray:
    """The centre of split s's bin, (s + 0.5)/(L + 1): :func:`split_from_decision` maps it
    back to s."""
    return (np.asarray(split_index, dtype=np.float64) + 0.5) / (np.asarray(n_units) + 1)


# ----------------------------------------------------------------------------- in the env


def split_for_offload_share(x, n_units) -> np.ndarray:
    """The env's decision entry x^u ∈ [0, 1] read as the share of the network offloaded:
    the UD runs the first s = L − min(⌊x·(L + 1)⌋, L) units (x = 0: all local, s = L; x = 1:
    all on the ES, s = 0; x ≥ 0.5 offloads at least half the units, as x^u ≥ 0.5 offloads
    the whole task in the paper's model). int64."""
    n_units = np.asarray(n_units, dtype=np.int64)
    return n_units - split_from_decision(x, n_units)


def offload_share_for_split(split_index, n_units) -> np.ndarray:
    """The centre of the x^u bin that :func:`split_for_offload_share` maps to split s."""
    n_units = np.asarray(n_units)
    return decision_for_split(n_units - np.asarray(split_index), n_units)


class SplitPlan:
    """The catalog as an env with ``task_model: dnn`` uses it (docs/environment.md, "DNN
    split tasks"): the profiles of ``cfg.dnn_networks`` at ``cfg.cycles_per_mac`` cycles per
    MAC on the UD and the ES alike and ``cfg.activation_bits`` per activation element.

    A task of network k has β = the input's bits and c = C_k / β cycles per bit, C_k the
    network's cycles, so β·c is its whole work as in the paper's model (all local and all
    offloaded cost exactly what the paper's formulas give) and c names the network
    (:meth:`network_of`); every network's c is distinct."""

    def __init__(self, networks, cycles_per_mac: float, activation_bits: int) -> None:
        self.table = split_table(
            tuple(networks),
            ud_cycles_per_mac=cycles_per_mac,
            es_cycles_per_mac=cycles_per_mac,
            element_bits=activation_bits,
        )
        prof = self.table.profile
        #: (K,) the input's bits (the same image for every network) and cycles per input bit
        self.input_bits = prof.upload_bits[:, 0].astype(np.float64)
        self.cycles_per_bit = prof.local_cycles[:, -1] / self.input_bits
        self._order = np.argsort(self.cycles_per_bit, kind="stable")
        self._sorted = self.cycles_per_bit[self._order]

    @staticmethod
    @functools.cache
    def of(networks: tuple[str, ...], cycles_per_mac: float, activation_bits: int) -> SplitPlan:
        """The plan of these keys, built once per process."""
        return SplitPlan(networks, cycles_per_mac, activation_bits)

    @staticmethod
    def for_config(cfg) -> SplitPlan:
        """The plan of ``cfg``'s ``dnn_networks``, ``cycles_per_mac``, ``activation_bits``."""
        return SplitPlan.of(tuple(cfg.dnn_networks), cfg.cycles_per_mac, cfg.activation_bits)

    def network_of(self, cycles_per_bit: np.ndarray) -> np.ndarray:
        """The network index (int64, same shape) of tasks with these c (exact values)."""
        at = np.searchsorted(self._sorted, cycles_per_bit)
        return self._order[np.minimum(at, self._sorted.size - 1)]

    def local_seconds(self, split, cycles_per_bit, f_hz) -> np.ndarray:
        """C^l(s)/f (s): how long units 1..s of each task keep the UD's CPU (0 at s = 0)."""
        local = self.table.profile[0][self.network_of(cycles_per_bit), split]
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(local > 0, compute.local_delay(local, 1.0, f_hz), 0.0)

    def split(self, offload_share: np.ndarray, cycles_per_bit: np.ndarray):
        """``(split index, L, profile at it)`` of each task from its x^u."""
        net = self.network_of(cycles_per_bit)
        n_units = self.table.n_units[net]
        s = split_for_offload_share(offload_share, n_units)
        prof = SplitProfile(*(a[net, s] for a in self.table.profile))
        return s, n_units, prof

    def offload_terms(self, cfg, offload_share, cycles_per_bit, gain, server, f_hz, p_w,
                      near=None):  # fmt: skip
        """The offload side of each UD's split (the rules of :mod:`mec_env.sim.compute` and
        :mod:`mec_env.sim.channel`): ``(split, requests, τ^o, τ^p, e^o, β(s))``, each like
        ``server`` (…, N). A UD requests iff it is matched and s < L. τ^o is the time its
        activation reaches the ES, C^l(s)/f + β(s)/v (the local units, then the upload); τ^p =
        C^r(s)/f_s; e^o = κ C^l(s) f² + p β(s)/v; β(s) is what the ES stores (15j). A UD
        that does not request runs the whole network locally (eq. 3 on β·c). ``gain`` and
        ``near`` as in :func:`mec_env.sim.slot.offload_terms`."""
        s, n_units, prof = self.split(offload_share, cycles_per_bit)
        matched = server >= 0
        srv = np.where(matched, server, 0)
        g = gain_at(gain, srv, near)
        rate = channel.uplink_rate(cfg.subchannel_bw_hz[srv], p_w, g)
        parts = profile_costs(prof, f_hz, cfg.f_server_hz[srv], rate, p_w, cfg.kappa)
        requested = matched & (s < n_units)
        tau_o = np.where(matched, parts.local_delay_s + parts.upload_delay_s, 0.0)
        tau_p = np.where(matched, parts.remote_delay_s, 0.0)
        e_o = np.where(matched, parts.local_energy_j + parts.upload_energy_j, 0.0)
        return s, requested, tau_o, tau_p, e_o, prof.upload_bits


class DnnTasks(TaskModel):
    """Task model ``"dnn"``: each task is one inference of a network drawn uniformly from
    ``dnn_networks`` (β the input's bits, c its cycles per input bit, :class:`SplitPlan`)
    with a deadline uniform on ``deadline_s``; two uniforms per task."""

    uniforms_per_ud = 2

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self.plan = SplitPlan.for_config(cfg)

    def draw(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        k = self.plan.cycles_per_bit.size
        net = np.minimum((u[..., 0] * k).astype(np.int64), k - 1)
        lo, hi = self.config.deadline_s
        return self.plan.input_bits[net], self.plan.cycles_per_bit[net], lo + u[..., 1] * (hi - lo)


TASK_MODELS.register("dnn", DnnTasks)


# ----------------------------------------------------------------------------- tables, CLI


def _fmt_macs(macs: int) -> str:
    return f"{macs / 1e6:,.1f} M"


def markdown_tables(catalog: dict) -> str:
    """The totals table and one split-unit table per network (docs/dnn_split.md)."""
    lines = [
        "| network | L | MACs | FLOPs (2·MACs) | parameters | input bits | largest activation |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, net in catalog["networks"].items():
        largest = max(net["units"][:-1], key=lambda u: u["out_bits"])
        lines.append(
            f"| `{name}` | {net['n_units']} | {_fmt_macs(net['total_macs'])} "
            f"| {_fmt_macs(2 * net['total_macs'])} | {net['total_params']:,} "
            f"| {net['input_bits']:,} | {largest['out_bits']:,} bits after `{largest['name']}` |"
        )
    for name, net in catalog["networks"].items():
        lines += ["", f"`{name}`:", ""]
        lines += ["| s | unit | MACs | cumulative MACs | output | bits uploaded at s |"]
        lines += ["|---|---|---|---|---|---|"]
        lines.append(f"| 0 | (input) | 0 | 0 | 3×224×224 | {net['input_bits']:,} |")
        cumulative = 0
        for s, unit in enumerate(net["units"], start=1):
            cumulative += unit["macs"]
            shape = "×".join(map(str, unit["out_shape"]))
            bits = 0 if s == net["n_units"] else unit["out_bits"]
            lines.append(
                f"| {s} | `{unit['name']}` | {_fmt_macs(unit['macs'])} "
                f"| {_fmt_macs(cumulative)} | {shape} | {bits:,} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mec_env.sim.dnn", description="Recompute the DNN catalog."
    )
    parser.add_argument("--markdown", action="store_true", help="print the docs' tables")
    parser.add_argument("--output", type=Path, default=CATALOG_PATH, help="the json to write")
    args = parser.parse_args(argv)
    catalog = compute_catalog()
    if args.markdown:
        print(markdown_tables(catalog), end="")
        return
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(catalog_json(catalog), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
