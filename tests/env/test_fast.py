"""The optional compiled kernels (mec_env.sim.fast, numba): identical to the numpy reference."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import mec_env
from mec_env import batched_matching
from mec_env.config import make_config
from mec_env.matching import SlotState
from mec_env.sim import fast
from tests.env.helpers import HETEROGENEOUS


def test_import_does_not_load_numba():
    code = (
        "import sys\nimport mec_env\n"
        "env = mec_env.parallel_env('small', kernels='numpy'); env.reset(seed=0)\n"
        "v = mec_env.vector_env(2, 'small', kernels='numpy'); v.reset(seed=0)\n"
        "print('numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_kernels_argument_is_checked():
    with pytest.raises(ValueError, match="kernels must be one of"):
        mec_env.parallel_env("small", kernels="cuda")
    assert fast.resolve("numpy") is None


numba = pytest.importorskip("numba")
K = fast.resolve("numba")


def random_slots(rng, batch, **overrides) -> SlotState:
    cfg = make_config("small", **overrides)
    n, m = cfg.n_uds, cfg.n_servers
    return SlotState(
        config=cfg,
        bits=rng.uniform(*cfg.task_bits, size=(batch, n)),
        cycles_per_bit=rng.uniform(*cfg.cycles_per_bit, size=(batch, n)),
        deadline_s=rng.uniform(*cfg.deadline_s, size=(batch, n)),
        gain=10.0 ** (rng.uniform(*cfg.gain_db, size=(batch, n, m)) / 10.0),
        battery_j=np.full((batch, n), cfg.b_max_j),
    )


@pytest.mark.parametrize("name", ["co_selection", "max_gain"])
def test_compiled_matcher_equals_numpy(name):
    rng = np.random.default_rng(11)
    for _ in range(60):
        m = int(rng.integers(1, 12))  # up to 11 servers: co_selection's pruned path too
        overrides = dict(
            n_servers=m,
            n_uds=int(rng.integers(1, 60)),
            z_max=[int(z) for z in rng.integers(1, 10, m)],
            n_cpus=[int(u) for u in rng.integers(1, 5, m)],
            f_server_hz=[float(f) for f in rng.uniform(1e9, 8e9, m)],
        )
        slots = random_slots(rng, 3, **overrides)
        compiled = batched_matching.match(
            name, slots, [np.random.default_rng(i) for i in range(3)], K
        )
        reference = batched_matching.match(
            name, slots, [np.random.default_rng(i) for i in range(3)], None
        )
        assert_array_equal(compiled, reference)


def test_compiled_co_selection_ties():
    cfg = make_config("small", n_uds=6, n_servers=2, z_max=4, n_cpus=1)
    same = SlotState(
        cfg,
        np.full((2, 6), 8e4),
        np.full((2, 6), 500.0),
        np.ones((2, 6)),
        np.full((2, 6, 2), 10.0),
        np.ones((2, 6)),
    )
    assert_array_equal(
        batched_matching.match("co_selection", same, None, K), [[0, 0, 0, 0, 1, 1]] * 2
    )


@pytest.mark.parametrize(
    ("preset", "overrides"),
    [
        ("paper_kb", {}),
        ("paper_kb", {"matcher": "max_gain", "es_agents": False}),
        ("paper_kb", {"n_uds": 130, "n_servers": 9}),
        ("small", {"n_cpus": [1, 3]}),
        ("small", {"es_agents": False, "admission": "saving_first", "subchannels": 1}),
        ("small", {"matcher": "random", "es_action_space": "box"}),
        ("small", HETEROGENEOUS),
        ("paper", {"normalize_obs": False}),
    ],
)
def test_compiled_env_equals_numpy_env(preset, overrides):
    fastv = mec_env.vector_env(4, preset, kernels="numba", n_slots=5, **overrides)
    slow = mec_env.vector_env(4, preset, kernels="numpy", n_slots=5, **overrides)
    a, _ = fastv.reset(seed=3)
    b, _ = slow.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(11):
        act = {"ud": rng.random((4, fastv.n_uds, 3))}
        act["ud"][..., 0] = np.where(rng.random((4, fastv.n_uds)) < 0.8, 1.0, 0.0)
        if fastv.es_agents:
            act["es"] = rng.integers(0, 2, (4, fastv.n_servers, fastv.z_cap))
        a, ra, *_, ia = fastv.step(act)
        b, rb, *_, ib = slow.step(act)
        for k in a:
            assert_array_equal(a[k], b[k])
        for k in ra:
            assert_array_equal(ra[k], rb[k])
        assert ia.keys() == ib.keys()
        for k in ia:
            assert_array_equal(ia[k], ib[k], err_msg=k)
        assert_array_equal(fastv.state(), slow.state())


@pytest.mark.parametrize("preset", ["small", "paper_kb", "paper", "dnn_split"])
@pytest.mark.parametrize("es_agents", [True, False])
def test_compiled_single_env_equals_numpy_single_env(preset, es_agents):
    """parallel_env with the kernels (B = 1) against parallel_env with numpy only, whose
    matchers are the per-copy reference functions."""
    envs = [
        mec_env.parallel_env(preset, kernels=k, es_agents=es_agents) for k in ("numba", "numpy")
    ]
    results = [env.reset(seed=7) for env in envs]
    rng = np.random.default_rng(1)
    for _ in range(envs[0].config.n_slots):
        act = {a: rng.random(3) for a in envs[0].ud_agents}
        act.update(
            {a: rng.integers(0, 2, envs[0].action_space(a).shape) for a in envs[0].es_agent_names}
        )
        results = [env.step(act) for env in envs]
        fast_out, ref_out = results
        for got, want in zip(fast_out, ref_out, strict=True):
            for agent in want:
                if isinstance(want[agent], dict):
                    for key in want[agent]:
                        assert_array_equal(got[agent][key], want[agent][key])
                else:
                    assert_array_equal(got[agent], want[agent])
        assert_array_equal(envs[0].state(), envs[1].state())
