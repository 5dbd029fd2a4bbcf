"""benchmarks/env_throughput.py runs end to end on its smoke budget and prints its tables.

Nothing here asserts a speed: the script prints measurements, the docs quote them.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "env_throughput.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("env_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


def test_env_throughput_smoke_run(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark()
    assert bench.main(["--quick", "--no-scaling", "--no-torchrl"]) == 0
    out = capsys.readouterr().out
    modes = ["numpy", "numba"] if bench.kernels_available() else ["numpy"]
    for mode in modes:
        batched = re.search(rf"^vector_env B=256 \({mode}\)\s+([\d,]+)\s+([\d,]+)", out, re.M)
        single = re.search(rf"^parallel_env \({mode}\)\s+([\d,]+)", out, re.M)
        assert batched and single, out
        env_steps, ud_steps = (int(g.replace(",", "")) for g in batched.groups())
        assert env_steps > 0 and ud_steps == pytest.approx(48 * env_steps, rel=1e-3)
        assert int(single.group(1).replace(",", "")) > 0
    assert "target >= 1,000,000 UD-agent-steps/s with numpy" in out
    assert "target >= 5,000 env-steps/s with the kernels" in out
    assert out.count("machine speed:") == 2
