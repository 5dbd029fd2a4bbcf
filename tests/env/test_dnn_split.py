"""DNN split points (mec_env.sim.dnn): the catalog against hand-computed layers and the
well-known totals, the shipped json against a fresh computation, and the split costs by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from mec_env.sim import dnn
from mec_env.sim.dnn import Conv, Linear, Pool

REPO = Path(__file__).resolve().parents[2]
KAPPA = 5e-27
INPUT_BITS = 3 * 224 * 224 * 8  # a 24-bit RGB image
# torchvision's published parameter counts (its model pages, "num_params")
TORCHVISION_PARAMS = {"mobilenet_v2": 3_504_872, "resnet18": 11_689_512, "vgg16": 138_357_544}
# the papers' rounded figures: MACs and parameters
WELL_KNOWN = {
    "mobilenet_v2": (300e6, 3.5e6),
    "resnet18": (1.8e9, 11.7e6),
    "vgg16": (15.5e9, 138e6),
}


def _net(name):
    return dnn.load_catalog()["networks"][name]


# ----------------------------------------------------------------------------- single layers


def test_vgg16_first_conv_by_hand():
    conv = Conv("conv1_1", 3, 64, 3, 1, 1, bias=True, bn=False)
    shape, macs, params = dnn.layer_cost(conv, (3, 224, 224))
    assert shape == (64, 224, 224)
    assert macs == 64 * 224 * 224 * 3 * 3 * 3 == 86_704_128  # 86.7 M MACs
    assert params == 64 * 27 + 64


def test_depthwise_conv_by_hand():
    # MobileNetV2 features.2: 96 channels, 3x3, stride 2, one group per channel
    conv = Conv("dw", 96, 96, 3, 2, 1, groups=96)
    shape, macs, params = dnn.layer_cost(conv, (96, 112, 112))
    assert shape == (96, 56, 56)
    assert macs == 96 * 56 * 56 * 9 == 2_709_504  # one 3x3 filter per output channel
    assert params == 96 * 9 + 2 * 96  # weights, batch norm's gamma and beta


def test_resnet_stem_pool_and_fc_by_hand():
    shape, macs, params = dnn.layer_cost(Conv("conv1", 3, 64, 7, 2, 3), (3, 224, 224))
    assert (shape, macs, params) == ((64, 112, 112), 64 * 112 * 112 * 147, 64 * 147 + 128)
    assert macs == 118_013_952
    assert dnn.layer_cost(Pool("maxpool", 3, 2, 1), shape) == ((64, 56, 56), 0, 0)
    assert dnn.layer_cost(Pool("avgpool", 0, kind="avg"), (512, 7, 7)) == ((512, 1, 1), 0, 0)
    fc6 = dnn.layer_cost(Linear("fc6", 512 * 7 * 7, 4096), (512, 7, 7))
    assert fc6 == ((4096,), 25088 * 4096, 25088 * 4096 + 4096)


def test_residual_unit_counts_its_projection():
    unit = dnn.resnet18().units[3]  # layer2.0: 64 -> 128, stride 2, 1x1 downsample
    assert unit.name == "layer2.0"
    shape, macs, _ = dnn.unit_cost(unit, (64, 56, 56))
    assert shape == (128, 28, 28)
    assert macs == 128 * 28 * 28 * (64 * 9 + 128 * 9 + 64) == 179_830_784


def test_bad_specs_name_the_layer():
    with pytest.raises(ValueError, match="conv_x: 16→32 channels"):
        dnn.layer_cost(Conv("conv_x", 16, 32, 3), (3, 224, 224))
    with pytest.raises(ValueError, match="fc: expects 100 inputs"):
        dnn.layer_cost(Linear("fc", 100, 10), (3, 4, 4))
    bad = dnn.Unit("block", (Conv("a", 8, 16, 3, 2, 1),), shortcut=())
    with pytest.raises(ValueError, match="block: shortcut gives"):
        dnn.unit_cost(bad, (8, 32, 32))


# ----------------------------------------------------------------------------- the catalog


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18", "vgg16"])
def test_totals_match_the_well_known_figures(name):
    net = _net(name)
    macs, params = WELL_KNOWN[name]
    assert net["total_macs"] == pytest.approx(macs, rel=0.02)
    assert net["total_params"] == pytest.approx(params, rel=0.01)
    assert net["total_params"] == TORCHVISION_PARAMS[name]
    assert net["total_macs"] == sum(u["macs"] for u in net["units"])
    assert net["units"][-1]["out_shape"] == [1000]


def test_exact_totals_by_hand():
    block = 64 * 56 * 56 * 576  # a 3x3 64->64 conv at 56x56, the same work in every stage
    down = 128 * 28 * 28 * (64 * 9 + 128 * 9 + 64)  # a block that halves and projects
    resnet = 118_013_952 + 4 * block + 3 * (down + 2 * block) + 512 * 1000
    assert _net("resnet18")["total_macs"] == resnet == 1_814_073_344
    heavy = 64 * 224 * 224 * 64 * 9  # each doubled-channel conv of stages 1-4 costs the same
    vgg = (
        64 * 224 * 224 * 27
        + 6 * heavy
        + 3 * heavy // 2  # conv2_1, conv3_1, conv4_1: half the input channels
        + 3 * heavy // 4  # stage 5 at 14x14 with 512 channels
        + 25088 * 4096
        + 4096 * 4096
        + 4096 * 1000
    )
    assert _net("vgg16")["total_macs"] == vgg == 15_470_264_320
    assert _net("mobilenet_v2")["total_macs"] == 300_774_272


def test_units_and_activation_sizes():
    assert [_net(n)["n_units"] for n in dnn.network_names()] == [20, 10, 16]
    vgg = _net("vgg16")["units"]
    assert vgg[1]["name"] == "conv1_2+pool1" and vgg[1]["layers"] == ["conv1_2", "pool1"]
    assert vgg[1]["out_shape"] == [64, 112, 112]
    assert vgg[1]["out_bits"] == 64 * 112 * 112 * 8
    mobile = _net("mobilenet_v2")["units"]
    assert mobile[0]["out_elements"] == 32 * 112 * 112
    assert mobile[1]["layers"] == ["features.1.depthwise", "features.1.project"]
    resnet = _net("resnet18")["units"]
    assert resnet[3]["layers"][-1] == "layer2.0.downsample"
    for name in dnn.network_names():
        assert _net(name)["input_bits"] == INPUT_BITS


def test_shipped_json_equals_a_fresh_computation(tmp_path):
    fresh = dnn.compute_catalog()
    assert dnn.load_catalog() == fresh
    assert dnn.CATALOG_PATH.read_text(encoding="utf-8") == dnn.catalog_json(fresh)
    out = tmp_path / "catalog.json"
    dnn.main(["--output", str(out)])
    assert out.read_text(encoding="utf-8") == dnn.CATALOG_PATH.read_text(encoding="utf-8")


def test_docs_tables_are_the_generated_ones():
    page = (REPO / "docs" / "dnn_split.md").read_text(encoding="utf-8")
    assert dnn.markdown_tables(dnn.load_catalog()) in page, (
        "docs/dnn_split.md is stale: paste `python -m mec_env.sim.dnn --markdown`"
    )


def test_import_needs_no_torch():
    code = (
        "import sys, mec_env.sim.dnn as d; d.split_profile('vgg16'); "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision')]"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_unknown_network():
    with pytest.raises(KeyError, match="unknown network 'alexnet'"):
        dnn.split_profile("alexnet")


# ----------------------------------------------------------------------------- split costs

F_LOCAL, F_SERVER, RATE, P_W = 1e9, 4e9, 1e7, 0.2
# network, split, local MACs, activation bits, remote MACs: by hand from the layers
BY_HAND = [
    # stem conv 3->32 at 112x112, then features.1: depthwise 32 and 1x1 32->16
    (
        "mobilenet_v2",
        2,
        32 * 112 * 112 * 27 + 32 * 112 * 112 * 9 + 16 * 112 * 112 * 32,
        16 * 112 * 112 * 8,
        300_774_272 - 20_873_216,
    ),
    ("resnet18", 1, 118_013_952, 64 * 56 * 56 * 8, 1_814_073_344 - 118_013_952),
    (
        "vgg16",
        2,
        64 * 224 * 224 * 27 + 64 * 224 * 224 * 576,
        64 * 112 * 112 * 8,
        15_470_264_320 - 1_936_392_192,
    ),
]


@pytest.mark.parametrize(("name", "split", "local", "bits", "remote"), BY_HAND)
def test_split_cost_by_hand(name, split, local, bits, remote):
    profile = dnn.split_profile(name)
    costs = dnn.split_costs(profile, np.array([[split]]), F_LOCAL, F_SERVER, RATE, P_W, KAPPA)
    assert costs.local_delay_s[0, 0] == pytest.approx(local / F_LOCAL, rel=1e-12)
    assert costs.local_energy_j[0, 0] == pytest.approx(KAPPA * local * F_LOCAL**2, rel=1e-12)
    assert costs.upload_delay_s[0, 0] == pytest.approx(bits / RATE, rel=1e-12)
    assert costs.upload_energy_j[0, 0] == pytest.approx(P_W * bits / RATE, rel=1e-12)
    assert costs.remote_delay_s[0, 0] == pytest.approx(remote / F_SERVER, rel=1e-12)
    delay = local / F_LOCAL + bits / RATE + remote / F_SERVER
    assert costs.delay_s[0, 0] == pytest.approx(delay, rel=1e-12)
    energy = KAPPA * local * F_LOCAL**2 + P_W * bits / RATE
    assert costs.energy_j[0, 0] == pytest.approx(energy, rel=1e-12)


def test_split_cost_numbers_resnet18():
    costs = dnn.split_costs(dnn.split_profile("resnet18"), 1, F_LOCAL, F_SERVER, RATE, P_W, KAPPA)
    assert_allclose(
        [float(c) for c in costs],
        [0.118013952, 0.59006976, 0.1605632, 0.03211264, 0.424014848],
        rtol=1e-12,
    )


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18", "vgg16"])
def test_the_ends_of_the_split_range(name):
    net = _net(name)
    n_units, total = net["n_units"], net["total_macs"]
    profile = dnn.split_profile(name)
    assert profile.local_cycles.shape == (n_units + 1,)
    # s = 0: the input goes up, everything runs on the ES
    assert (profile.local_cycles[0], profile.upload_bits[0]) == (0, INPUT_BITS)
    assert profile.remote_cycles[0] == total
    # s = L: everything local, nothing uploaded
    assert (profile.upload_bits[-1], profile.remote_cycles[-1]) == (0, 0)
    assert profile.local_cycles[-1] == total
    costs = dnn.split_costs(profile, np.array([0, n_units]), F_LOCAL, F_SERVER, 0.0, P_W, KAPPA)
    assert costs.upload_delay_s[0] == np.inf  # the input at rate 0
    assert costs.upload_delay_s[1] == costs.upload_energy_j[1] == costs.remote_delay_s[1] == 0
    assert costs.delay_s[1] == pytest.approx(total / F_LOCAL)
    # an unmatched UD (f_s = 0) or a UD without a CPU (f = 0): the empty part still costs 0
    ends = dnn.split_costs(profile, np.array([0, n_units]), 0.0, 0.0, RATE, P_W, KAPPA)
    assert ends.local_delay_s[0] == ends.local_energy_j[0] == ends.remote_delay_s[1] == 0


def test_cycles_per_mac_and_element_width():
    base = dnn.split_profile("resnet18")
    scaled = dnn.split_profile(
        "resnet18", ud_cycles_per_mac=0.5, es_cycles_per_mac=0.25, element_bits=32
    )
    assert_array_equal(scaled.local_cycles, base.local_cycles * 0.5)
    assert_array_equal(scaled.remote_cycles, base.remote_cycles * 0.25)
    assert scaled.upload_bits[0] == INPUT_BITS  # the image stays 24-bit RGB
    assert_array_equal(scaled.upload_bits[1:], base.upload_bits[1:] * 4)


def test_mixed_networks_per_task():
    table = dnn.split_table()
    assert table.names == ("mobilenet_v2", "resnet18", "vgg16")
    assert_array_equal(table.n_units, [20, 10, 16])
    net_index = np.array([[0, 1, 2], [2, 1, 0]])
    split = np.array([[20, 3, 16], [5, 10, 0]])
    rate = np.array([[1e6, 1e7, 3e7], [2e6, 5e5, 1e8]])
    costs = dnn.split_costs(table.for_tasks(net_index), split, F_LOCAL, F_SERVER, rate, P_W, KAPPA)
    for b, n in np.ndindex(split.shape):
        one = dnn.split_costs(
            dnn.split_profile(table.names[net_index[b, n]]),
            split[b, n],
            F_LOCAL,
            F_SERVER,
            rate[b, n],
            P_W,
            KAPPA,
        )
        assert_allclose([c[b, n] for c in costs], [float(c) for c in one], rtol=1e-15)
    # a padded column repeats s = L
    assert table.profile.local_cycles[1, -1] == _net("resnet18")["total_macs"]
    assert table.profile.upload_bits[1, -1] == 0


def test_split_index_out_of_range():
    profile = dnn.split_profile("resnet18")
    with pytest.raises(ValueError, match="split index 11 past L = 10"):
        dnn.split_costs(profile, np.array([11]), F_LOCAL, F_SERVER, RATE, P_W, KAPPA)
    with pytest.raises(ValueError, match="integers in 0..10"):
        dnn.split_costs(profile, np.array([0.5]), F_LOCAL, F_SERVER, RATE, P_W, KAPPA)


# ----------------------------------------------------------------------------- best split


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18", "vgg16"])
def test_best_split_follows_the_rate(name):
    profile = dnn.split_profile(name)
    n_units = _net(name)["n_units"]
    rate = np.array([[1.0, 0.0, 1e15]])  # tiny, none, huge
    split, objective = dnn.best_split(profile, F_LOCAL, F_SERVER, rate, P_W, KAPPA, 0.5, 0.5)
    assert split.shape == objective.shape == (1, 3)
    assert split[0, 0] == split[0, 1] == n_units  # all local
    assert split[0, 2] == 0  # the input is nearly free to send, the ES four times faster
    assert np.isfinite(objective).all()


def test_best_split_matches_brute_force():
    rng = np.random.default_rng(22)
    table = dnn.split_table()
    shape = (4, 7)
    net_index = rng.integers(0, 3, shape)
    profile = table.for_tasks(net_index)
    f_local = rng.uniform(0.4e9, 1.5e9, shape)
    rate = 10 ** rng.uniform(5, 9, shape)
    p_w = rng.uniform(1e-3, 0.25, shape)
    deadline = rng.uniform(0.1, 5.0, shape)
    split, objective = dnn.best_split(
        profile, f_local, 4e9, rate, p_w, KAPPA, 0.5, 0.5, deadline_s=deadline
    )
    for b, n in np.ndindex(shape):
        n_units = table.n_units[net_index[b, n]]
        values = []
        for s in range(n_units + 1):
            c = dnn.split_costs(profile, np.full(shape, s), f_local, 4e9, rate, p_w, KAPPA)
            delay, energy = c.delay_s[b, n], c.energy_j[b, n]
            values.append(0.5 * delay + 0.5 * energy + 0.5 * max(delay - deadline[b, n], 0.0))
        assert split[b, n] == int(np.argmin(values))
        assert objective[b, n] == pytest.approx(min(values), rel=1e-12)


# ----------------------------------------------------------------------------- decision map


def test_decision_to_split():
    assert_array_equal(dnn.split_from_decision([0.0, 0.5, 1.0, -0.2, 1.7], 20), [0, 10, 20, 0, 20])
    assert_array_equal(dnn.split_from_decision([0.999, 0.091], [10, 10]), [10, 1])
    for n_units in (10, 16, 20):
        splits = np.arange(n_units + 1)
        decision = dnn.decision_for_split(splits, n_units)
        assert ((decision > 0) & (decision < 1)).all()
        assert_array_equal(dnn.split_from_decision(decision, n_units), splits)


# ----------------------------------------------------------------------------- properties


@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["mobilenet_v2", "resnet18", "vgg16"]),
    ud_cpm=st.floats(1e-3, 10.0),
    es_cpm=st.floats(1e-3, 10.0),
    f_local=st.floats(1e8, 3e9),
    f_server=st.floats(1e9, 1e11),
    rate=st.floats(1.0, 1e10),
    p_w=st.floats(1e-4, 1.0),
    kappa=st.floats(1e-29, 1e-25),
    position=st.floats(0.0, 1.0),
)
def test_costs_nonnegative_finite_and_monotone(
    name, ud_cpm, es_cpm, f_local, f_server, rate, p_w, kappa, position
):
    profile = dnn.split_profile(name, ud_cycles_per_mac=ud_cpm, es_cycles_per_mac=es_cpm)
    assert (np.diff(profile.local_cycles) >= 0).all()
    assert (np.diff(profile.remote_cycles) <= 0).all()
    assert (profile.upload_bits >= 0).all()
    costs = dnn.all_split_costs(profile, f_local, f_server, rate, p_w, kappa)
    for part in (*costs, costs.delay_s, costs.energy_j):
        assert np.isfinite(part).all() and (part >= 0).all()
    assert (np.diff(costs.local_delay_s) >= 0).all()
    assert (np.diff(costs.remote_delay_s) <= 0).all()
    split = dnn.split_from_decision(position, len(profile.local_cycles) - 1)
    one = dnn.split_costs(profile, split, f_local, f_server, rate, p_w, kappa)
    assert_allclose([float(c) for c in one], [c[split] for c in costs], rtol=1e-15)
