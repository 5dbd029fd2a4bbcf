"""benchmarks/peer_maddpg.py end to end on a tiny budget (skipped without torchrl)."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("hydra")
pytest.importorskip("torchrl")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "peer_maddpg.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("peer_maddpg", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_peer_maddpg_tiny_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark()
    out_json = tmp_path / "peer.json"
    argv = ["--setting", "saving_first", "--env-steps", "100", "--eval-every", "100", "--seeds",
            "0", "--json", str(out_json), "--run-root", str(tmp_path / "runs")]  # fmt: skip
    out = bench.main(argv)

    (result,) = out["results"]
    assert "error" not in result["ours"], result["ours"].get("error")
    for who in ("ours", "peer"):
        curve = result[who]["curve"]
        assert [p["env_steps"] for p in curve] == [100], who
        assert all(math.isfinite(p["cost"]) and p["cost"] > 0 for p in curve), who
        assert result[who]["episodes"] == 10, who
    assert result["peer"]["updates"] == 20  # 20 updates per 100 env-steps
    assert set(result["references"]) == {"greedy", "all_offload", "all_local"}
    assert all(math.isfinite(r["cost_here"]) for r in result["references"].values())

    printed = capsys.readouterr().out
    assert "| env-steps | ours cost | peer cost |" in printed
    assert all(0.0 <= p["offload_rate"] <= 1.0 for who in ("ours", "peer")
               for p in result[who]["curve"])  # fmt: skip
    assert json.loads(out_json.read_text())["versions"]["torchrl"] == out["versions"]["torchrl"]


def test_peer_actions_in_bounds_and_deterministic_eval() -> None:
    import numpy as np
    import torch

    bench = load_benchmark()
    torch.manual_seed(0)
    agent = bench.PeerMADDPG(n_agents=4, obs_dim=13, act_dim=3)
    obs = np.random.default_rng(0).random((4, 13), dtype=np.float32)
    noisy = agent.act(obs, explore=True)
    assert noisy.shape == (4, 3) and noisy.min() >= 0.0 and noisy.max() <= 1.0
    np.testing.assert_array_equal(agent.act(obs, explore=False), agent.act(obs, explore=False))
