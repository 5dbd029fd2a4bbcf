"""Every preset, matcher, admission rule and ES option plays the stored trajectories, bit for
bit: the single env and each copy of a vector env, with numpy and with the compiled kernels
(hashes recorded before the simulator refactor; see tests/env/trajectory_hashes.py)."""

from __future__ import annotations

import json

import pytest

from mec_env.sim import fast
from tests.env.trajectory_hashes import CASES, HASH_FILE, SEEDS, single_hash, vector_hashes

STORED = json.loads(HASH_FILE.read_text())
KERNELS = ["numpy"] + (["numba"] if fast.available() else [])


def test_every_case_is_stored():
    assert sorted(STORED) == sorted(CASES)


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_single_env_plays_the_stored_trajectories(case, kernels):
    preset, overrides = CASES[case]
    got = [single_hash(preset, overrides, s, kernels) for s in SEEDS]
    assert got == STORED[case]


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_vector_env_copies_play_the_stored_trajectories(case, kernels):
    preset, overrides = CASES[case]
    assert vector_hashes(preset, overrides, kernels) == STORED[case]
