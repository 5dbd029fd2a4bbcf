"""Rendering for the MEC environment: an ANSI table and a matplotlib picture.

:meth:`MECParallelEnv.render` dispatches here by ``render_mode``:

- ``"ansi"``: :func:`render_ansi`, a text table of the slot just played (``env.last_step``):
  per UD its task, matched server, decision, delay, energy, cost, timeout and battery, then
  slot totals. Right after ``reset()`` it shows the new slot's tasks and matching instead.
- ``"rgb_array"``: :func:`render_rgb`, an (H, W, 3) ``uint8`` frame: servers on top, UDs
  below, grey matching links, admitted offloads highlighted, refused requests dashed, timed-out
  tasks marked, and every UD's battery as a bar.
  With a map (a mobility model with positions, e.g. the ``urban_mobility`` preset) the top
  panel is the map instead (:func:`render_map`): the ESs at their sites, every UD at its
  position, and the UD→ES links of the matching, coloured the same way.
- ``"human"``: the same frame shown in a matplotlib window (:func:`show`, :func:`close`); a
  no-op with a warning when matplotlib has no interactive backend (no display).

:func:`save_episode` plays an episode and saves its frames as an animated GIF (matplotlib's
``PillowWriter``, when pillow is installed) or else as numbered PNG files.

Matplotlib is imported only inside the picture functions; without it they raise an
``ImportError`` naming the fix (``pip install mec-env[render]``). The ANSI table needs only
numpy.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

_FIG_SIZE_IN = (8.0, 6.0)
_DPI = 100
_INSTALL_HINT = (
    "rendering pictures needs matplotlib: pip install mec-env[render] (or pip install matplotlib)"
)

# Colours (matplotlib names): one meaning each.
_C_SERVER = "tab:blue"
_C_LINK = "0.8"
_C_OFFLOAD = "tab:green"
_C_REFUSED = "tab:red"
_C_LOCAL = "tab:gray"
_C_BATTERY = "tab:olive"
_C_LOW = "tab:red"

_human_window: dict[str, Any] = {}


def _base(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


# ------------------------------------------------------------------------------------- ANSI
def _decisions(out: dict[str, np.ndarray]) -> np.ndarray:
    """Per-UD decision word of a played slot."""
    requested = np.asarray(out["requested"], bool)
    approved = np.asarray(out.get("approved", requested), bool)
    offloaded = np.asarray(out["offloaded"], bool)
    server = np.asarray(out["server"])
    word = np.full(server.shape, "local", dtype=object)
    word[server < 0] = "local(unm)"
    word[requested & ~approved] = "refused"
    word[approved & ~offloaded] = "cut"
    word[offloaded] = "offload"
    return word


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)
    ]
    line = "  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "-" * len(line)]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return out


_NEW_SLOT_HEADER = ["ud", "task KB", "cyc/bit", "deadline ms", "server", "gain dB", "battery J"]
_PLAYED_HEADER = [
    "ud",
    "task KB",
    "cyc/bit",
    "deadline ms",
    "server",
    "decision",
    "control",
    "delay ms",
    "energy mJ",
    "cost",
    "timeout",
    "battery J",
]


def render_ansi(env: Any, max_rows: int | None = None) -> str:
    """A readable table of the slot just played, or of the new slot right after ``reset``.

    Units: task in KB (10^3 bytes), deadline, delay in ms, f in GHz, p in mW, energy in mJ,
    battery in J. ``max_rows`` limits the UD rows shown (``None``: all).
    """
    base = _base(env)
    n = base.config.n_uds
    shown = n if max_rows is None else min(n, max_rows)
    out = getattr(base, "last_step", None)
    if out is None:
        return "\n".join(_ansi_new_slot(base, shown))
    return "\n".join(_ansi_played(base, out, shown))


def _ansi_new_slot(base: Any, shown: int) -> list[str]:
    """The lines of the new slot's table: tasks, matching, gains, batteries, server loads."""
    cfg = base.config
    n = cfg.n_uds
    s = base.current_slot
    server = base.server
    lines = [
        f"MEC slot {base.t + 1}/{cfg.n_slots} (new slot: tasks and matching; "
        f"N={n} UDs, M={cfg.n_servers} ESs, matcher={cfg.matcher})"
    ]
    srv = np.maximum(server, 0)
    gain_db = 10.0 * np.log10(s.gain_to(srv))
    rows = [
        [
            f"ud_{i}",
            f"{s.bits[i] / 8e3:.1f}",
            f"{s.cycles_per_bit[i]:.0f}",
            f"{s.deadline_s[i] * 1e3:.0f}",
            f"es_{server[i]}" if server[i] >= 0 else "-",
            f"{gain_db[i]:.1f}" if server[i] >= 0 else "-",
            f"{s.battery_j[i]:.4g}",
        ]
        for i in range(shown)
    ]
    lines += _table(_NEW_SLOT_HEADER, rows)
    if shown < n:
        lines.append(f"... {n - shown} more UDs")
    load = np.bincount(server[server >= 0], minlength=cfg.n_servers)
    lines.append(
        "servers: "
        + ", ".join(f"es_{m} {load[m]}/{cfg.z_max[m]} UDs" for m in range(cfg.n_servers))
    )
    return lines


def _ansi_played(base: Any, out: dict[str, np.ndarray], shown: int) -> list[str]:
    """The lines of the played slot's table: one row per UD, then the slot totals."""
    cfg = base.config
    n = cfg.n_uds
    lines = [
        f"MEC slot {base.t}/{cfg.n_slots} played (N={n} UDs, M={cfg.n_servers} ESs, "
        f"matcher={cfg.matcher}, admission="
        f"{'ES agents' if cfg.es_agents else cfg.admission})"
    ]
    lines += _table(_PLAYED_HEADER, _played_rows(out, shown))
    if shown < n:
        lines.append(f"... {n - shown} more UDs")
    lines.append(_played_totals(out, n))
    return lines


def _played_rows(out: dict[str, np.ndarray], shown: int) -> list[list[str]]:
    """The first ``shown`` UDs' rows of the played slot's table (:data:`_PLAYED_HEADER`)."""
    word = _decisions(out)
    offloaded = np.asarray(out["offloaded"], bool)
    timed_out = np.asarray(out["timed_out"], bool)
    server = np.asarray(out["server"])
    rows = []
    for i in range(shown):
        control = (
            f"p={out['p_w'][i] * 1e3:.1f}mW" if offloaded[i] else f"f={out['f_hz'][i] / 1e9:.2f}GHz"
        )
        rows.append(
            [
                f"ud_{i}",
                f"{out['task_bytes'][i] / 1e3:.1f}",
                f"{out['cycles_per_bit'][i]:.0f}",
                f"{out['deadline_s'][i] * 1e3:.0f}",
                f"es_{server[i]}" if server[i] >= 0 else "-",
                word[i],
                control,
                f"{out['delay_s'][i] * 1e3:.1f}",
                f"{out['energy_j'][i] * 1e3:.3f}",
                f"{out['cost'][i]:.4f}",
                "TIMEOUT" if timed_out[i] else "ok",
                f"{out['battery_j'][i]:.4g}" + ("<b_min" if out["below_b_min"][i] else ""),
            ]
        )
    return rows


def _played_totals(out: dict[str, np.ndarray], n: int) -> str:
    """The totals line of a played slot: cost, delay, energy, timeouts, offloads, reward."""
    offloaded = np.asarray(out["offloaded"], bool)
    timed_out = np.asarray(out["timed_out"], bool)
    requested = np.asarray(out["requested"], bool)
    n_req, n_off = int(requested.sum()), int(offloaded.sum())
    cuts = int((np.asarray(out.get("approved", requested), bool) & ~offloaded).sum())
    return (
        f"totals: cost {float(np.sum(out['cost'])):.4f} (mean {float(np.mean(out['cost'])):.4f})"
        f", delay {float(np.sum(out['delay_s'])):.3f} s, energy "
        f"{float(np.sum(out['energy_j'])) * 1e3:.3f} mJ, timeouts {int(timed_out.sum())}/{n}, "
        f"offloaded {n_off}/{n} ({n_req} requested, {cuts} cut), mean reward "
        f"{float(np.mean(out['reward'])):.4f}"
    )


# ---------------------------------------------------------------------------------- picture
def _require_matplotlib() -> Any:
    try:
        import matplotlib
    except ImportError as err:  # pragma: no cover - exercised only without matplotlib
        raise ImportError(_INSTALL_HINT) from err
    return matplotlib


def _layout(server: np.ndarray, n_servers: int) -> tuple[np.ndarray, np.ndarray]:
    """x positions in [0, 1] of the servers and of the UDs; UDs are grouped under their
    server (unmatched ones at the right end) so that links barely cross."""
    n = server.shape[0]
    order = np.lexsort((np.arange(n), np.where(server >= 0, server, n_servers)))
    ud_x = np.empty(n)
    ud_x[order] = (np.arange(n) + 0.5) / n
    srv_x = np.empty(n_servers)
    for m in range(n_servers):
        mine = ud_x[server == m]
        srv_x[m] = mine.mean() if mine.size else (m + 0.5) / n_servers
    return srv_x, ud_x


@dataclass(frozen=True)
class _Frame:
    """What a picture shows of a slot: per UD (N,) its server, battery and outcome flags."""

    server: np.ndarray
    battery: np.ndarray
    requested: np.ndarray
    offloaded: np.ndarray
    timed_out: np.ndarray
    title: str


def _frame(base: Any) -> _Frame:
    """The slot just played (``base.last_step``), or the new slot right after ``reset``."""
    cfg = base.config
    out = getattr(base, "last_step", None)
    n = cfg.n_uds
    if out is None:
        none = np.zeros(n, bool)
        return _Frame(
            server=np.asarray(base.server),
            battery=np.asarray(base.current_slot.battery_j),
            requested=none,
            offloaded=none,
            timed_out=none,
            title=f"slot {base.t + 1}/{cfg.n_slots}: new tasks and matching",
        )
    offloaded = np.asarray(out["offloaded"], bool)
    timed_out = np.asarray(out["timed_out"], bool)
    return _Frame(
        server=np.asarray(out["server"]),
        battery=np.asarray(out["battery_j"]),
        requested=np.asarray(out["requested"], bool),
        offloaded=offloaded,
        timed_out=timed_out,
        title=(
            f"slot {base.t}/{cfg.n_slots}: mean cost {float(np.mean(out['cost'])):.4f}, "
            f"offloaded {int(offloaded.sum())}/{n}, timeouts {int(timed_out.sum())}"
        ),
    )


_SRV_Y, _UD_Y = 1.0, 0.0  # heights of the server row and the UD row in the top panel


def map_of(env: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(UD positions (N, 2), ES sites (M, 2), area (2,))`` in m of a single env whose
    mobility model has positions (:class:`mec_env.sim.components.MapMobility`), else None.
    The positions are those of the current slot: right after a step, the next slot's, at
    most v_max·Δ from where the played slot was."""
    core = getattr(_base(env), "_core", None)
    mobility = getattr(getattr(core, "scenario", None), "mobility", None)
    state = getattr(mobility, "state", None)
    if not state or "pos" not in state or getattr(mobility, "sites", None) is None:
        return None
    return state["pos"][0], mobility.sites, mobility.area


def render_rgb(env: Any) -> np.ndarray:
    """An (H, W, 3) ``uint8`` picture of the slot just played (or of the new slot after
    ``reset``): servers, UDs, matching links, admitted offloads, battery levels; on a map
    (:func:`map_of`) the top panel is the map (:func:`render_map`)."""
    _require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    base = _base(env)
    cfg = base.config
    f = _frame(base)
    where = map_of(base)
    fig = Figure(figsize=_FIG_SIZE_IN, dpi=_DPI)
    canvas = FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, gridspec_kw={"height_ratios": [3, 1]})
    srv_x, ud_x = _layout(f.server, cfg.n_servers)
    if where is None:
        _draw_links(top, f, srv_x, ud_x)
        _draw_nodes(top, f, srv_x, ud_x)
        _draw_labels(top, cfg, f, srv_x, ud_x)
        _draw_legend(top, f.title)
    else:
        render_map(top, cfg, f, *where)
        ud_x = (np.arange(cfg.n_uds) + 0.5) / cfg.n_uds  # batteries in UD order
    _draw_batteries(bottom, cfg, f.battery, ud_x)
    fig.tight_layout()
    canvas.draw()
    frame = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    return frame


def render_map(
    ax: Any, cfg: Any, f: _Frame, pos: np.ndarray, sites: np.ndarray, area: np.ndarray
) -> None:
    """The map on ``ax``: ESs (squares, labelled with admitted offloads and load) at
    ``sites``, UDs at ``pos`` coloured by outcome, UD→ES links of the matching (grey matched,
    dashed red refused or cut, green offloaded), the area's frame in m."""
    n = f.server.shape[0]
    segs = np.stack([pos, sites[np.maximum(f.server, 0)]], axis=1)
    _draw_segments(ax, f, segs)
    refused = f.requested & ~f.offloaded
    size = max(4.0, min(60.0, 2000.0 / n)) if n <= 500 else max(1.0, 2000.0 / n)
    colour = np.where(f.offloaded, _C_OFFLOAD, np.where(refused, _C_REFUSED, _C_LOCAL))
    ax.scatter(pos[:, 0], pos[:, 1], s=size, c=list(colour), zorder=4)
    if f.timed_out.any():
        ax.scatter(*pos[f.timed_out].T, marker="x", s=2 * size, c=_C_REFUSED, zorder=4)
    m_all = cfg.n_servers  # a large map (city): smaller squares, no per-ES labels
    es_size = 160.0 if m_all <= 9 else max(6.0, 1440.0 / m_all)
    ax.scatter(sites[:, 0], sites[:, 1], marker="s", s=es_size, c=_C_SERVER, zorder=5)
    load = np.bincount(f.server[f.server >= 0], minlength=cfg.n_servers)
    admitted = np.bincount(f.server[f.offloaded], minlength=cfg.n_servers)
    for m in range(m_all if m_all <= 12 else 0):
        ax.annotate(f"es_{m}: {admitted[m]}/{cfg.subchannels[m]} K, {load[m]} UDs",
                    sites[m], xytext=(0, 9), textcoords="offset points", ha="center",
                    fontsize=7, zorder=6, bbox={"fc": "white", "ec": "none", "alpha": 0.7,
                                                "pad": 1})  # fmt: skip
    ax.set_xlim(0.0, area[0])
    ax.set_ylim(0.0, area[1])
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)", fontsize=8)
    ax.set_ylabel("y (m)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(f.title, fontsize=10)
    for label, c, ls in (("offloaded", _C_OFFLOAD, "-"), ("refused / cut", _C_REFUSED, "--"),
                         ("matched, local", _C_LINK, "-")):  # fmt: skip
        ax.plot([], [], color=c, linestyle=ls, label=label)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)


def _draw_links(ax: Any, f: _Frame, srv_x: np.ndarray, ud_x: np.ndarray) -> None:
    """UD-server links: grey matched and local, dashed red refused or cut, green offloaded."""
    n = f.server.shape[0]
    segs = np.stack(
        [
            np.stack([ud_x, np.full(n, _UD_Y)], -1),
            np.stack([srv_x[np.maximum(f.server, 0)], np.full(n, _SRV_Y)], -1),
        ],
        axis=1,
    )
    _draw_segments(ax, f, segs)


def _draw_segments(ax: Any, f: _Frame, segs: np.ndarray) -> None:
    """The links ``segs`` (N, 2, 2) coloured by outcome (see :func:`_draw_links`)."""
    from matplotlib.collections import LineCollection

    n = f.server.shape[0]
    refused = f.requested & ~f.offloaded
    link = (f.server >= 0) & ~f.offloaded & ~refused
    lw = max(0.3, min(2.5, 60.0 / n))
    ax.add_collection(LineCollection(segs[link], colors=_C_LINK, linewidths=lw, zorder=1))
    ax.add_collection(
        LineCollection(
            segs[refused], colors=_C_REFUSED, linewidths=lw, linestyles="dashed", zorder=2
        )
    )
    ax.add_collection(
        LineCollection(segs[f.offloaded], colors=_C_OFFLOAD, linewidths=2 * lw, zorder=3)
    )


def _draw_nodes(ax: Any, f: _Frame, srv_x: np.ndarray, ud_x: np.ndarray) -> None:
    """UDs coloured by outcome (timed-out ones crossed) and the servers as squares."""
    n = f.server.shape[0]
    refused = f.requested & ~f.offloaded
    size = max(4.0, min(120.0, 4000.0 / n))
    colour = np.where(f.offloaded, _C_OFFLOAD, np.where(refused, _C_REFUSED, _C_LOCAL))
    ax.scatter(ud_x, np.full(n, _UD_Y), s=size, c=list(colour), zorder=4)
    if f.timed_out.any():
        ax.scatter(
            ud_x[f.timed_out],
            np.full(int(f.timed_out.sum()), _UD_Y - 0.08),
            marker="x",
            s=size,
            c=_C_REFUSED,
            zorder=4,
        )
    ax.scatter(srv_x, np.full(srv_x.shape[0], _SRV_Y), marker="s", s=300, c=_C_SERVER, zorder=5)


def _draw_labels(ax: Any, cfg: Any, f: _Frame, srv_x: np.ndarray, ud_x: np.ndarray) -> None:
    """Each server's admitted offloads and load, each UD's index (up to 24 of each)."""
    m_count, n = cfg.n_servers, cfg.n_uds
    load = np.bincount(f.server[f.server >= 0], minlength=m_count)
    admitted = np.bincount(f.server[f.offloaded], minlength=m_count)
    if m_count <= 24:
        for m in range(m_count):
            ax.annotate(
                f"es_{m}\n{admitted[m]}/{cfg.subchannels[m]} K, {load[m]} UDs",
                (srv_x[m], _SRV_Y),
                xytext=(0, 12),
                textcoords="offset points",
                ha="center",
                fontsize=8,
            )
    if n <= 24:
        for i in range(n):
            ax.annotate(
                f"{i}",
                (ud_x[i], _UD_Y),
                xytext=(0, -14),
                textcoords="offset points",
                ha="center",
                fontsize=7,
            )


def _draw_legend(ax: Any, title: str) -> None:
    """The top panel's limits, title and legend."""
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(-0.3, 1.45)
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    legend = [
        ("offloaded", _C_OFFLOAD, "-"),
        ("refused / cut", _C_REFUSED, "--"),
        ("matched, local", _C_LINK, "-"),
    ]
    for label, c, ls in legend:
        ax.plot([], [], color=c, linestyle=ls, label=label)
    ax.plot([], [], color=_C_REFUSED, marker="x", linestyle="none", label="timed out")
    ax.legend(loc="lower right", fontsize=7, frameon=False, ncol=4)


def _draw_batteries(ax: Any, cfg: Any, battery: np.ndarray, ud_x: np.ndarray) -> None:
    """The bottom panel: every UD's battery over b_max, red below b_min (dotted line); with
    more than 400 UDs the share of UDs at each level instead (a histogram on its side)."""
    level = battery / cfg.b_max_j
    low = battery < cfg.b_min_j
    if cfg.n_uds > 400:
        _draw_battery_histogram(ax, cfg, level)
        return
    ax.bar(ud_x, level, width=0.8 / cfg.n_uds, color=np.where(low, _C_LOW, _C_BATTERY))
    ax.axhline(cfg.b_min_j / cfg.b_max_j, color=_C_LOW, linewidth=0.8, linestyle=":")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.05)
    ax.set_xticks([])
    ax.set_ylabel("battery / b_max", fontsize=8)
    ax.tick_params(labelsize=7)


def _draw_battery_histogram(ax: Any, cfg: Any, level: np.ndarray) -> None:
    """The share of UDs in each of 40 battery bins over [0, 1] of b_max, red below b_min."""
    counts, edges = np.histogram(np.clip(level, 0.0, 1.0), bins=40, range=(0.0, 1.0))
    share = counts / max(level.size, 1)
    colour = np.where(edges[:-1] < cfg.b_min_j / cfg.b_max_j, _C_LOW, _C_BATTERY)
    ax.barh(edges[:-1], share, height=np.diff(edges), align="edge", color=list(colour))
    ax.axhline(cfg.b_min_j / cfg.b_max_j, color=_C_LOW, linewidth=0.8, linestyle=":")
    ax.set_xlim(0.0, 1.0)
    ax.set_ylim(0.0, 1.05)
    ax.set_xlabel(f"share of the {cfg.n_uds} UDs", fontsize=8)
    ax.set_ylabel("battery / b_max", fontsize=8)
    ax.tick_params(labelsize=7)


def _interactive(plt: Any) -> bool:
    backend = str(plt.get_backend()).lower()
    return (
        backend not in {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}
        and "inline" not in backend
    )


def show(frame: np.ndarray) -> None:
    """Show ``frame`` in a matplotlib window (``render_mode="human"``), reusing the window.

    Without an interactive backend (e.g. no display) it warns once and does nothing.
    """
    _require_matplotlib()
    import matplotlib.pyplot as plt

    if not _interactive(plt):
        if not _human_window.get("warned"):
            warnings.warn(
                f"render_mode='human' needs an interactive matplotlib backend, have "
                f"{plt.get_backend()!r} (no display?); frames are not shown. Use "
                f"render_mode='rgb_array' to get them as arrays.",
                stacklevel=3,
            )
            _human_window["warned"] = True
        return
    fig = _human_window.get("figure")
    if fig is None or not plt.fignum_exists(fig.number):
        fig, ax = plt.subplots(figsize=_FIG_SIZE_IN)
        ax.set_axis_off()
        _human_window["figure"] = fig
        _human_window["image"] = ax.imshow(frame)
        fig.tight_layout()
    else:
        _human_window["image"].set_data(frame)
    fig.canvas.draw_idle()
    plt.pause(0.001)


def close() -> None:
    """Close the ``human`` window if one is open (safe to call at any time)."""
    fig = _human_window.pop("figure", None)
    _human_window.pop("image", None)
    if fig is None:
        return
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    plt.close(fig)


def save_episode(
    env: Any,
    path: str,
    policy: Any = None,
    seed: int | None = None,
    n_steps: int | None = None,
    fps: int = 5,
) -> list[str]:
    """Play an episode of the single env ``env`` (``reset(seed)``, then ``n_steps`` steps,
    default the whole episode) and save a frame (:func:`render_rgb`) after the reset and
    each step: an animated GIF at ``path`` (matplotlib's ``PillowWriter``) when pillow is
    installed, else PNG files ``<path without .gif>_000.png``, ... The actions are
    ``policy(observations)`` (a dict per agent), or random samples of the action spaces.
    Returns the written paths."""
    _require_matplotlib()
    observations, _ = env.reset(seed=seed)
    frames = [render_rgb(env)]
    steps = _base(env).config.n_slots if n_steps is None else n_steps
    if policy is None:
        for k, a in enumerate(env.agents):  # reproducible random actions
            env.action_space(a).seed(None if seed is None else seed + k)
    for _ in range(steps):
        if policy is None:
            actions = {a: env.action_space(a).sample() for a in env.agents}
        else:
            actions = policy(observations)
        observations, *_, trunc, _ = env.step(actions)
        frames.append(render_rgb(env))
        if trunc and all(trunc.values()):
            break
    return _write_frames(frames, str(path), fps)


def _has_pillow() -> bool:
    """Whether pillow can be imported (matplotlib >= 3.3 requires it; checked anyway)."""
    try:
        import PIL  # noqa: F401
    except ImportError:
        return False
    return True


def _write_frames(frames: list[np.ndarray], path: str, fps: int) -> list[str]:
    """``frames`` as an animated GIF at ``path``, or as PNGs without pillow."""
    from matplotlib import animation
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(frames[0].shape[1] / _DPI, frames[0].shape[0] / _DPI), dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    ax.set_axis_off()
    image = ax.imshow(frames[0])
    if not _has_pillow():
        stem = path[:-4] if path.lower().endswith(".gif") else path
        paths = [f"{stem}_{k:03d}.png" for k in range(len(frames))]
        for frame, p in zip(frames, paths):
            image.set_data(frame)
            fig.savefig(p, dpi=_DPI)
        return paths
    anim = animation.FuncAnimation(
        fig, lambda k: (image.set_data(frames[k]),), frames=len(frames), blit=False
    )
    anim.save(path, writer=animation.PillowWriter(fps=fps), dpi=_DPI)
    return [path]


__all__ = ["close", "map_of", "render_ansi", "render_map", "render_rgb", "save_episode", "show"]
