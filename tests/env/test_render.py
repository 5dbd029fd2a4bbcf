"""Rendering: the ANSI table names every UD and its fate, the RGB frame is a picture, and the
``human`` mode degrades gracefully without a display."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest

import mec_env
from mec_env import render
from mec_env.policies import env_overrides_for, make_policy

pytest.importorskip("matplotlib")


def _played(
    preset: str = "small",
    render_mode: str = "ansi",
    policy: str = "greedy",
    seed: int = 0,
    **overrides,
):
    env = mec_env.parallel_env(
        preset, render_mode=render_mode, **{**env_overrides_for(policy), **overrides}
    )
    observations, _ = env.reset(seed=seed)
    env.step(make_policy(policy, env, seed=seed)(observations))
    return env


def test_ansi_after_reset_lists_the_new_slot():
    env = mec_env.parallel_env("small", render_mode="ansi")
    env.reset(seed=0)
    text = env.render()
    assert isinstance(text, str)
    assert "slot 1/10" in text
    for i in range(6):
        assert f"ud_{i}" in text
    for m in range(2):
        assert f"es_{m}" in text


def test_ansi_after_a_step_shows_each_ud_decision_and_totals():
    env = _played()
    text = env.render()
    out = env.last_step
    lines = text.splitlines()
    for i in range(6):
        row = next(line for line in lines if line.startswith(f"ud_{i} "))
        if out["offloaded"][i]:
            word = "offload"
        elif out["approved"][i]:
            word = "cut"  # approved, but K or D_m was full
        else:
            word = "refused" if out["requested"][i] else "local"
        assert word in row
        assert f"{out['delay_s'][i] * 1e3:.1f}" in row  # delay in ms
        assert f"{out['energy_j'][i] * 1e3:.3f}" in row  # energy in mJ
    assert "totals:" in lines[-1]
    assert f"offloaded {int(out['offloaded'].sum())}/6" in lines[-1]


def test_ansi_marks_timeouts_and_cuts():
    # The verbatim MB preset: no task can meet its deadline (docs/environment.md, Presets).
    env = _played("paper", policy="all_offload", n_uds=6, n_servers=1, subchannels=2)
    text = env.render()
    assert text.count("TIMEOUT") == 6
    assert "cut" in text  # 6 requests, K = 2


def test_ansi_max_rows_and_unmatched_uds():
    env = _played("small", n_uds=10)  # 8 places: 2 UDs unmatched
    text = render.render_ansi(env, max_rows=3)
    assert "ud_2 " in text and "ud_3 " not in text and "7 more UDs" in text
    assert "local(unm)" in render.render_ansi(env)


def test_render_works_at_episode_end_and_through_wrappers():
    env = mec_env.parallel_env("small", render_mode="ansi")
    policy = make_policy("all_local", env)
    observations, _ = env.reset(seed=1)
    while env.agents:
        observations, *_ = env.step(policy(observations))
    assert "slot 10/10 played" in env.render()
    aec = mec_env.env(preset="small", render_mode="ansi")
    aec.reset(seed=0)
    assert "ud_5" in render.render_ansi(aec)


@pytest.mark.parametrize(("preset", "overrides"), [("small", {}), ("paper_kb", {"n_uds": 60})])
def test_rgb_frame_after_reset_and_step(preset, overrides):
    env = mec_env.parallel_env(preset, render_mode="rgb_array", **overrides)
    env.reset(seed=0)
    first = env.render()
    env.step({a: env.action_space(a).sample() for a in env.agents})
    frame = env.render()
    for f in (first, frame):
        assert isinstance(f, np.ndarray)
        assert f.dtype == np.uint8 and f.ndim == 3 and f.shape[2] == 3
        assert f.shape[0] >= 200 and f.shape[1] >= 200
        assert f.std() > 5  # a picture, not a blank canvas
    assert first.shape == frame.shape
    assert not np.array_equal(first, frame)


def test_human_mode_without_display_warns_and_does_not_fail(monkeypatch):
    import matplotlib

    monkeypatch.setattr(matplotlib, "get_backend", lambda: "agg")
    import matplotlib.pyplot as plt

    monkeypatch.setattr(plt, "get_backend", lambda: "agg")
    monkeypatch.setitem(render._human_window, "warned", False)
    env = mec_env.parallel_env("small", render_mode="human")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env.reset(seed=0)  # human mode renders on reset and step
        assert env.render() is None
    assert any("interactive matplotlib backend" in str(w.message) for w in caught)
    env.close()
    render.close()  # idempotent


def test_missing_matplotlib_names_the_extra(monkeypatch):
    env = mec_env.parallel_env("small", render_mode="rgb_array")
    env.reset(seed=0)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r"pip install mec-env\[render\]"):
        env.render()
    assert "ud_0" in render.render_ansi(env)  # the table needs no matplotlib
