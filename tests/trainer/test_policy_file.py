"""policy.pt next to checkpoint.pt: actors only, safe to load, and the same evaluation."""

from __future__ import annotations

import pickle
import re

import pytest
import torch

from tests.trainer.helpers import algo_overrides, compose_cfg, eval_error
from ucms_marl import checkpoint as ckpt
from ucms_marl import evaluate
from ucms_marl.train import run

UCMS_SMALL = ["learner.es_hidden=[32,32]"]


@pytest.mark.parametrize(
    ("algo", "extra"),
    [
        ("maddpg", []),
        ("ucms_maddpg", UCMS_SMALL),
        ("mappo", []),
        ("ucms_mappo", ["learner.es_hidden=[16,16]"]),
    ],
)
def test_policy_file_evaluates_like_the_checkpoint(tmp_path, algo, extra):
    run(compose_cfg([f"algo={algo}", *algo_overrides(algo), *extra]), tmp_path / "run", algo=algo)
    full, policy = tmp_path / "run" / "checkpoint.pt", tmp_path / "run" / "policy.pt"
    assert policy.stat().st_size < full.stat().st_size

    # both files open without unpickling code: plain containers and tensors only
    raw = torch.load(policy, weights_only=True)
    assert raw["format"] == ckpt.POLICY_FORMAT
    assert all(isinstance(t, torch.Tensor) for t in _leaves(raw["weights"]))
    torch.load(full, weights_only=True)
    loaded = ckpt.load_policy(policy)
    assert loaded["algo"] == algo and loaded["episode"] == 4

    a = evaluate.run_evaluation(
        ["--checkpoint", str(full), "--episodes", "2", "--json", str(tmp_path / "a.json")]
    )
    b = evaluate.run_evaluation(
        ["--checkpoint", str(policy), "--episodes", "2", "--json", str(tmp_path / "b.json")]
    )
    assert a["per_episode"] == b["per_episode"]
    assert b["checkpoint_episode"] == 4


def _leaves(tree):
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _leaves(v)
    else:
        yield tree


def test_checkpoint_round_trips_numpy_state(tmp_path):
    import numpy as np

    state = {
        "replay": {"obs": np.arange(6, dtype=np.float32).reshape(2, 3), "flag": np.ones(2, bool)},
        "rng": np.random.get_state(),  # noqa: NPY002 - a tuple holding a uint32 array
        "gen": np.random.default_rng(3).bit_generator.state,  # 128-bit Python ints
        "scalar": np.float64(0.5),
    }
    ckpt.save_atomic(ckpt.encode(state), tmp_path / "c.pt")
    back = ckpt.decode(torch.load(tmp_path / "c.pt", weights_only=True))
    np.testing.assert_array_equal(back["replay"]["obs"], state["replay"]["obs"])
    assert back["replay"]["obs"].dtype == np.float32 and back["replay"]["flag"].dtype == bool
    assert back["rng"][0] == "MT19937" and back["rng"][1].dtype == np.uint32
    np.testing.assert_array_equal(back["rng"][1], state["rng"][1])
    assert back["gen"] == state["gen"] and back["scalar"] == 0.5


def test_unsafe_or_wrong_files_are_refused_with_one_line(tmp_path, capsys):
    class Evil:
        def __reduce__(self):
            return (print, ("this would run",))

    bad = tmp_path / "evil.pt"
    with bad.open("wb") as f:
        pickle.dump({"config": Evil()}, f)
    torch.save({"learner": Evil()}, tmp_path / "evil2.pt")
    for path in (bad, tmp_path / "evil2.pt"):
        line = eval_error(["--checkpoint", str(path)], capsys)
        assert re.match(r"ucms-eval: error: .* not a checkpoint or policy", line)
    line = eval_error(["--checkpoint", str(tmp_path / "missing.pt")], capsys)
    assert line.startswith("ucms-eval: error: no checkpoint or policy file at")
