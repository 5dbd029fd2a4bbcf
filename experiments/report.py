"""``python -m experiments report``: write ``docs/results.md`` from the aggregated results.

Every number on the page comes from ``experiments/results/<profile>/*.json`` (written by
``plot``, read back as :class:`~experiments.records.FigureResult`),
``experiments/results/timings.json`` (written by ``time``) or the profile definitions. The
prose around them is the Markdown template ``experiments/templates/results.md.tmpl``, whose
named blocks this module fills in (:func:`block`); the figures come from
:data:`experiments.catalog.FIGURES`. Figures not plotted yet appear with the commands that
produce them, so the page is a valid skeleton before any run.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from string import Template
from typing import Any

from experiments.aggregate import FINAL_TRAIN_FRACTION, SAVGOL_POLYORDER, result_stem
from experiments.catalog import (
    BEYOND_PAPER,
    COST_VS_N_FIGURE,
    FIGURES,
    FINAL_EVALUATION_FIGURE,
    ORACLE,
    ORACLE_ENV,
    ORACLE_FIGURES,
    PAPER_ALGORITHMS,
    REFERENCE_POLICIES,
    algo_config_exists,
    label,
    reproduce_requests,
    short_label,
)
from experiments.launch import REFERENCE_EPISODES_CAP
from experiments.profiles import PAPER_N_VALUES, PROFILES, Profile
from experiments.records import AlgorithmResult, FigureResult, Interval, ReferenceResult
from experiments.timing import TIMINGS_FILE, estimate
from mec_env.config import make_config

TEMPLATE = Path(__file__).resolve().parent / "templates" / "results.md.tmpl"
PAPER_PROFILE = "paper"  # the profile whose cost the page estimates, and compares budgets with
PAPER_COST_WORKERS = (2, 16, 64)
DEFAULT_RUNS_ROOT = Path("experiments/runs")
# The context metrics (aggregate.CONTEXT_METRICS) the oracle and verbatim-units tables show.
TABLE_METRICS = ("cost", "timeout_rate", "offload_rate")


# --------------------------------------------------------------------------- template
@functools.cache
def _blocks(path: Path = TEMPLATE) -> dict[str, Template]:
    """The template's blocks by name: ``%% <name>`` lines open them (last newline dropped)."""
    parts = re.split(r"^%% (\w+)\n", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    names, bodies = parts[1::2], parts[2::2]
    return {n: Template(b[:-1] if b.endswith("\n") else b) for n, b in zip(names, bodies)}


def block(name: str, /, **values: Any) -> str:
    """The template block ``name`` with its ``${placeholders}`` filled from ``values``."""
    return _blocks()[name].substitute(values)


# --------------------------------------------------------------------------- formatting
def _finite(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _num(v: Any, digits: int = 4) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{digits}g}"


def _interval(iv: Interval | None) -> str:
    if iv is None or _finite(iv.mean) is None:
        return "–"
    if _finite(iv.low) is None:
        return f"{_num(iv.mean)} (1 seed, no interval)"
    return f"{_num(iv.mean)} [{_num(iv.low)}, {_num(iv.high)}]"


def _minutes(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    return f"{seconds / 60:.1f} min"


def _rel(path: Path, start: Path) -> str:
    return os.path.relpath(path, start).replace(os.sep, "/")


def _codes(names: Sequence[str]) -> str:
    return ", ".join(f"`{a}`" for a in names)


def _figure_envs(fig_key: str) -> list[str]:
    return list(FIGURES[fig_key].envs or (FIGURES[fig_key].default_env,))


def _ctx_mean(entry: AlgorithmResult | ReferenceResult | None, metric: str) -> float | None:
    iv = ((entry.context if entry else None) or {}).get(metric)
    return None if iv is None else _finite(iv.mean)


def _means(group: Mapping[str, AlgorithmResult | ReferenceResult], metric: str) -> dict:
    """``metric``'s mean final value per algorithm of ``group`` (those that have one)."""
    vals = {a: _ctx_mean(e, metric) for a, e in group.items()}
    return {a: v for a, v in vals.items() if v is not None}


# --------------------------------------------------------------------------- results
Results = dict[str, FigureResult]


def load_results(results_dir: Path) -> Results:
    """Result JSONs of one profile, keyed by file stem (``fig5_paper_kb``)."""
    out = {}
    for path in sorted(Path(results_dir).glob("fig*_*.json")):
        out[path.stem] = FigureResult.from_dict(json.loads(path.read_text()))
    return out


def _result(results: Results, fig_key: str, env: str) -> FigureResult | None:
    return results.get(result_stem(fig_key, env))


def _each_figure(results: Results):
    """(key, spec, env, result or None) for every figure on each of its envs, in order."""
    for key, fig in FIGURES.items():
        for env in _figure_envs(key):
            yield key, fig, env, _result(results, key, env)


# --------------------------------------------------------------------------- page
def render(
    profile: Profile,
    results_dir: Path,
    out_path: Path,
    timings_path: Path | None = None,
    runs_root: Path | None = None,
) -> str:
    results = load_results(results_dir)
    docs_dir = Path(out_path).parent
    runs_root = runs_root or DEFAULT_RUNS_ROOT
    lines = [_head(profile, results, Path(results_dir), docs_dir), ""]
    lines += [_claims(results), ""]
    lines += _what_changes(results)
    lines += _against_references(results)
    lines += _learning_trend(results)
    lines += [block("regenerate", profile=profile.name), ""]
    lines += _budget(profile)
    if timings_path is not None and Path(timings_path).exists():
        lines += _timings(profile, json.loads(Path(timings_path).read_text()), runs_root)
    lines += _measured(results)
    lines += _figures(results, profile, Path(results_dir), docs_dir)
    lines += _oracle_section(results, profile, Path(results_dir), docs_dir)
    lines += _verbatim_section(results)
    lines += _differences(profile)
    text = "\n".join(lines).rstrip() + "\n"
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(text)
    return text


def _head(profile: Profile, results: Results, results_dir: Path, docs_dir: Path) -> str:
    implemented = [a for a in PAPER_ALGORITHMS if algo_config_exists(a)]
    missing = [a for a in PAPER_ALGORITHMS if a not in implemented]
    return block(
        "head",
        profile=profile.name,
        description=profile.description,
        n_results=len(results),
        results_dir=_rel(results_dir, docs_dir),
        implemented=_codes(implemented),
        not_implemented=block("not_implemented", algorithms=_codes(missing)) if missing else "",
        beyond=_codes([a for a in BEYOND_PAPER if algo_config_exists(a)]),
        references=_codes(REFERENCE_POLICIES),
        oracle=ORACLE,
        oracle_env=ORACLE_ENV,
    )


def _claims(results: Results) -> str:
    rows = []
    for key, fig, env, res in _each_figure(results):
        verdict = f"**{res.claim.verdict}**" if res else "not run yet"
        beyond = (res.claim.beyond_paper_summary if res else "") or "–"
        rows.append(
            block(
                "claim_row", key=key, env=env, claim=fig.claim.text, verdict=verdict, beyond=beyond
            )
        )
    return block("claims", rows="\n".join(rows))


def _what_changes(results: Results) -> list[str]:
    """The paper's claims in plain words: which stand, which do not, what the new rows add."""
    out = [block("changes_head"), ""]
    held, not_held, unclear, beaten_by = [], [], [], {}
    for key, _, env, res in _each_figure(results):
        if not res:
            continue
        name = f"{key} (`{env}`)"
        {"held": held, "not held": not_held}.get(res.claim.verdict, unclear).append(name)
        for algo in res.claim.ucms_worse_than:
            beaten_by.setdefault(algo, []).append(name)
    if not (held or not_held or unclear):
        return out + [block("changes_none"), ""]
    for name, figures in (("stand", held), ("not_held", not_held), ("unclear", unclear)):
        if figures:
            out.append(block(f"changes_{name}", figures=", ".join(figures)))
    for algo, where in beaten_by.items():
        figures = ", ".join(dict.fromkeys(where))
        out.append(block("changes_beyond", algorithm=short_label(algo), figures=figures))
    return out + [""]


# --------------------------------------------------------------------------- references
def _against_references(results: Results) -> list[str]:
    """Where the learners stand against the heuristics: generated from the results of the
    final-evaluation figure and the cost-against-N figure.

    The paper compares its five learners with each other only; a reader also needs to know
    whether any of them beats a one-line heuristic, so the page says it up front.
    """
    out = [block("references_head"), ""]
    found = False
    for env in _figure_envs(FINAL_EVALUATION_FIGURE):
        res = _result(results, FINAL_EVALUATION_FIGURE, env)
        paragraph = _learners_vs_references(env, res) if res and res.algorithms else []
        found = found or bool(paragraph)
        out += paragraph
    vs_n_fig = FIGURES[COST_VS_N_FIGURE]
    vs_n = _cheapest_vs_greedy(_result(results, vs_n_fig.key, vs_n_fig.default_env))
    found = found or vs_n is not None
    out += vs_n or []
    if not found:
        not_measured = block(
            "references_not_measured", figure=FINAL_EVALUATION_FIGURE, vs_n_figure=vs_n_fig.key
        )
        return out + [not_measured, ""]
    return out + [block("references_why"), ""]


def _learners_vs_references(env: str, res: FigureResult) -> list[str]:
    learners, refs = _means(res.algorithms, "cost"), _means(res.references, "cost")
    if not learners:
        return []
    ranked = sorted(learners, key=learners.get)
    by_cost = sorted(refs.items(), key=lambda rc: rc[1])
    ref_text = ", ".join(f"{label(r)} {_num(c)}" for r, c in by_cost)
    out = [
        block(
            "references_env",
            env=env,
            short=FIGURES[FINAL_EVALUATION_FIGURE].short,
            learners=", ".join(f"{label(a)} {_num(learners[a])}" for a in ranked),
            references=block("references_list", references=ref_text) if refs else "",
        ),
        "",
    ]
    if not refs:
        return out
    best, best_ref = ranked[0], min(refs, key=refs.get)
    ratio = (
        f"{learners[best] / refs[best_ref]:.2f} times"
        if refs[best_ref] > 0
        else "n/a (reference cost 0)"
    )
    cheapest = block(
        "references_cheapest", learner=label(best), ratio=ratio, reference=label(best_ref)
    )
    return out + [cheapest, "- " + "; ".join(_who_is_cheaper(ranked, learners, refs)) + ".", ""]


def _who_is_cheaper(ranked: list[str], learners: dict, refs: dict) -> list[str]:
    """Per reference (cheapest first): which learners cost less than it."""
    beaten = {r: [a for a in ranked if learners[a] < refs[r]] for r in sorted(refs, key=refs.get)}
    if not any(beaten.values()):
        return [block("references_none_cheaper")]
    parts = []
    for r, who in beaten.items():
        if not who:
            parts.append(block("references_no_learner", reference=label(r)))
        elif len(who) == len(ranked):
            parts.append(block("references_every_learner", reference=label(r)))
        else:
            verb = "is" if len(who) == 1 else "are"
            learners_ = ", ".join(map(label, who))
            parts.append(
                block("references_some_learners", learners=learners_, verb=verb, reference=label(r))
            )
    parts[0] = parts[0][0].upper() + parts[0][1:]
    return parts


def _cheapest_vs_greedy(res: FigureResult | None) -> list[str] | None:
    """The cheapest learner at each N against greedy; ``None`` without the results."""
    if not (res and res.algorithms and "greedy" in res.references):
        return None
    greedy = res.references["greedy"].per_n or {}
    rows = []
    for n in sorted(greedy, key=int):
        means = {
            a: e.per_n[n].interval.mean
            for a, e in res.algorithms.items()
            if n in (e.per_n or {}) and _finite(e.per_n[n].interval.mean) is not None
        }
        if not means:
            continue
        best = min(means, key=means.get)
        g = _finite(greedy[n])
        ratio = f"{means[best] / g:.2f}x" if g else "–"
        cost = _num(means[best])
        rows.append(
            block(
                "references_vs_n_row",
                n=n,
                learner=label(best),
                cost=cost,
                greedy=_num(g),
                ratio=ratio,
            )
        )
    short = FIGURES[COST_VS_N_FIGURE].short
    text = block("references_vs_n", short=short, env=res.env, rows="\n".join(rows))
    return [text, ""] if rows else []


# --------------------------------------------------------------------------- learning
NO_COLLAPSE_SHARE = 0.10  # a final evaluation within this share of the run's best is no collapse


def _learning_trend(results: Results) -> list[str]:
    """Did each learner's evaluation curve go up (return; cost down) in the final-evaluation
    figure's runs: its first and best evaluation, its last, and whether the last is within
    :data:`NO_COLLAPSE_SHARE` of the best (the seeds' mean curve)."""
    out = []
    for env in _figure_envs(FINAL_EVALUATION_FIGURE):
        res = _result(results, FINAL_EVALUATION_FIGURE, env)
        rows = [
            _trend_row(algo, entry.curve)
            for algo, entry in (res.algorithms.items() if res else ())
            if entry.curve and len(entry.curve) >= 2
        ]
        if rows:
            up = sum(r[1] for r in rows)
            kept = sum(r[2] for r in rows)
            out += [
                block(
                    "trend",
                    env=env,
                    short=FIGURES[FINAL_EVALUATION_FIGURE].short,
                    share=f"{NO_COLLAPSE_SHARE:.0%}",
                    rows="\n".join(r[0] for r in rows),
                    up=up,
                    kept=kept,
                    n=len(rows),
                ),
                "",
            ]
    return [block("trend_head"), "", *out] if out else []


def _trend_row(algo: str, curve: Sequence[Any]) -> tuple[str, bool, bool]:
    """(table row, went up, no collapse) of one learner's mean evaluation curve."""
    first, last = curve[0], curve[-1]
    best = max(curve, key=lambda p: p.mean)
    went_up = last.mean > first.mean
    kept = last.mean >= best.mean - NO_COLLAPSE_SHARE * abs(best.mean)
    row = block(
        "trend_row",
        learner=label(algo),
        first=f"{_num(first.mean)} (episode {first.x:g})",
        best=f"{_num(best.mean)} (episode {best.x:g})",
        last=f"{_num(last.mean)} (episode {last.x:g})",
        up="yes" if went_up else "**no**",
        kept="yes" if kept else "**no**",
    )
    return row, went_up, kept


# --------------------------------------------------------------------------- budget and time
def _budget(profile: Profile) -> list[str]:
    rows = []
    for sweep, budget in profile.budgets.items():
        base, _, env = sweep.partition("-")
        figs = ", ".join(
            k
            for k, f in FIGURES.items()
            if f.sweep == base
            and (not env or env in f.envs or (env == ORACLE_ENV and k in ORACLE_FIGURES))
        )
        rows.append(
            block(
                "budget_row",
                sweep=sweep,
                figures=figs,
                seeds=budget.seeds,
                episodes=budget.episodes,
                updates_per_episode=budget.updates_per_episode,
                learning_starts=budget.learning_starts,
                eval_every=budget.eval_every or "end",
                eval_episodes=budget.eval_episodes,
            )  # fmt: skip
        )
    text = block(
        "budget", rows="\n".join(rows), n_axis=", ".join(map(str, profile.n_values)),
        n_jobs=profile.n_jobs if profile.n_jobs > 0 else "all",
        torch_threads=profile.torch_threads, reference_episodes=REFERENCE_EPISODES_CAP,
    )  # fmt: skip
    return [text, ""]


def _timings(profile: Profile, timings: dict[str, Any], runs_root: Path) -> list[str]:
    """The estimate of this profile, the measured per-episode costs, the paper profile's."""
    reqs, _ = reproduce_requests(profile)
    est = estimate(reqs, profile, runs_root, timings)
    host = timings.get("host", {})
    load = host.get("loadavg_1min")
    during = block("estimate_load", before=load[0], after=load[1]) if load else ""
    rows = [_estimate_row(row, est["unknown"]) for row in est["sweeps"]]
    without = f" (without {', '.join(est['unknown'])})" if est["unknown"] else ""
    text = block(
        "estimate", measured=timings.get("measured"), cpus=host.get("cpus"), during=during,
        rows="\n".join(rows), without=without, worker=_minutes(est["worker_s"]),
        wall=_minutes(est["wall_s"]),
    )  # fmt: skip
    return [text, "", _timing_table(timings), ""] + _paper_cost(timings, reqs, runs_root)


def _estimate_row(row: dict[str, Any], unknown: list[str]) -> str:
    note = block("estimate_extrapolated") if row["estimated_from_other_measurements"] else ""
    if row["sweep"] in unknown:
        note = block("estimate_no_timings", env=row["sweep"].split("-", 1)[1])
    return block(
        "estimate_row", sweep=row["sweep"], runs=row["runs"], worker=_minutes(row["worker_s"]),
        wall=_minutes(row["wall_s"]), note=note,
    )  # fmt: skip


def _timing_table(timings: dict[str, Any]) -> str:
    entries = sorted(
        timings.get("entries", {}).values(), key=lambda e: (e["env"], e["n_uds"], e["algo"])
    )
    rows = [
        block(
            "timing_row",
            env=e["env"],
            algo=e["algo"],
            n_uds=e["n_uds"],
            env_s=_num(e["env_s"], 3),
            update_s=_num(e["update_s"], 3) if e["update_s"] else "–",
        )  # fmt: skip
        for e in entries
    ]
    return block("timing_table", rows="\n".join(rows))


def _paper_cost(timings: dict[str, Any], reqs: list, runs_root: Path) -> list[str]:
    """The expected cost of the ``paper`` profile, from the same timings."""
    paper = PROFILES[PAPER_PROFILE]
    rows = []
    for workers in PAPER_COST_WORKERS:
        est = estimate(reqs, paper, runs_root, timings, workers=workers)
        rows.append(block("paper_cost_row", workers=workers, hours=f"{est['wall_s'] / 3600:.1f}"))
    est = estimate(reqs, paper, runs_root, timings, workers=1)
    heaviest = max(est["sweeps"], key=lambda r: r["worker_s"] / max(1, r["runs"]))
    budget = paper.budget("main")
    text = block(
        "paper_cost", paper=paper.name, episodes=budget.episodes, seeds=budget.seeds,
        rows="\n".join(rows), core_hours=f"{est['worker_s'] / 3600:.0f}",
        runs=sum(r["runs"] for r in est["sweeps"]), heaviest=heaviest["sweep"],
        heaviest_hours=f"{heaviest['worker_s'] / heaviest['runs'] / 3600:.1f}",
    )  # fmt: skip
    return [text, ""]


def _measured(results: Results) -> list[str]:
    measured = {res.runtime.sweep: res.runtime for res in results.values()}
    if not measured:
        return []
    rows = [
        block(
            "measured_row",
            sweep=sweep,
            runs=rt.runs,
            worker=_minutes(rt.worker_s),
            wall=_minutes(rt.launch_wall_s),
        )  # fmt: skip
        for sweep, rt in sorted(measured.items())
    ]
    worker = _minutes(sum(rt.worker_s for rt in measured.values()))
    wall = _minutes(sum(rt.launch_wall_s for rt in measured.values()))
    return [block("measured", rows="\n".join(rows), worker=worker, wall=wall), ""]


# --------------------------------------------------------------------------- figures
def _figures(results: Results, profile: Profile, results_dir: Path, docs_dir: Path) -> list[str]:
    out = [block("figures_head"), ""]
    for key, fig, env, res in _each_figure(results):
        out += [block("figure_head", key=key, env=env, title=fig.title, claim=fig.claim.text), ""]
        if res is None:
            out += [block("figure_not_run", profile=profile.name, key=key, env=env), ""]
            continue
        png = results_dir / f"{result_stem(key, env)}.png"
        out += [block("figure_image", title=fig.title, png=_rel(png, docs_dir)), ""]
        out += [block("figure_verdict", verdict=res.claim.verdict, detail=res.claim.detail), ""]
        if res.claim.beyond_paper:
            out += [block("figure_beyond", beyond=res.claim.beyond_paper), ""]
        out += [_figure_table(res), ""]
        if res.messages:
            notes = "\n".join(f"- {m}" for m in res.messages)
            out += [block("figure_notes", notes=notes), ""]
        out += [_regenerate(res, png, docs_dir), ""]
    return out


def _regenerate(res: FigureResult, png: Path, docs_dir: Path) -> str:
    return block(
        "regenerate_figure", run=res.commands.run, plot=res.commands.plot,
        csv=_rel(png.with_suffix(".csv"), docs_dir), json=_rel(png.with_suffix(".json"), docs_dir),
    )  # fmt: skip


def _figure_table(res: FigureResult) -> str:
    unit = f" ({res.unit})" if res.unit else ""
    if res.kind == "vs_n":
        return _vs_n_table(res, unit)
    training = res.phase == "train"
    fraction = f"{FINAL_TRAIN_FRACTION:.0%}"
    what = block("what_train", fraction=fraction) if training else block("what_eval")
    rows = []
    for algo, e in res.algorithms.items():
        ctx = e.context or {}
        rows.append(
            block(
                "table_curve_row",
                algorithm=label(algo),
                seeds=len(e.seeds),
                final=_interval(e.final.interval if e.final else None),
                training=f"| {_interval(_iv(e.mean_over_training))} " if training else "",
                cost=_interval(ctx.get("cost")),
                timeouts=_interval(ctx.get("timeout_rate")),
            )  # fmt: skip
        )
    for algo, ref in res.references.items():
        rows.append(
            block(
                "table_curve_row",
                algorithm=label(algo),
                seeds="–",
                final=_num(ref.value),
                training="| – " if training else "",
                cost=_num(_ctx_mean(ref, "cost")),
                timeouts=_num(_ctx_mean(ref, "timeout_rate")),
            )  # fmt: skip
        )
    return block(
        "table_curve", ylabel=res.ylabel, what=what, unit=unit,
        training_column="| mean over training " if training else "",
        training_rule="---|" if training else "", rows="\n".join(rows),
    )  # fmt: skip


def _iv(values: Any) -> Interval | None:
    return None if values is None else values.interval


def _vs_n_table(res: FigureResult, unit: str) -> str:
    ns = sorted({int(n) for e in res.algorithms.values() for n in e.per_n or {}})
    rows = []
    for algo, e in res.algorithms.items():
        cells = [_interval(_iv((e.per_n or {}).get(str(n)))) for n in ns]
        rows.append(f"| {label(algo)} | " + " | ".join(cells) + " |")
    for algo, ref in res.references.items():
        cells = [_num((ref.per_n or {}).get(str(n))) for n in ns]
        rows.append(f"| {label(algo)} | " + " | ".join(cells) + " |")
    return block(
        "table_vs_n", unit=unit, n_columns=" | ".join(f"N = {n}" for n in ns),
        rules="---|" * len(ns), rows="\n".join(rows),
    )  # fmt: skip


# --------------------------------------------------------------------------- oracle
def _oracle_section(
    results: Results, profile: Profile, results_dir: Path, docs_dir: Path
) -> list[str]:
    """Every algorithm against the exact per-slot oracle on the preset where it is tractable:
    the first of ``ORACLE_FIGURES`` gives the cost table, the others their picture and claim."""
    env, cfg = ORACLE_ENV, make_config(ORACLE_ENV)
    head = block("oracle_head", env=env, oracle=ORACLE, n_uds=cfg.n_uds, n_servers=cfg.n_servers)
    out = [head, ""]
    first, *others = ORACLE_FIGURES
    res = _result(results, first, env)
    if res is None:
        figures = " ".join(ORACLE_FIGURES)
        return out + [block("oracle_not_run", figures=figures, profile=profile.name, env=env), ""]
    png = results_dir / f"{result_stem(first, env)}.png"
    out += [_oracle_image(first, env, png, docs_dir), ""]
    out += [_oracle_table(res), ""]
    out += [_oracle_claim(first, env, res), ""]
    if res.messages:
        out += [f"- {m}" for m in res.messages] + [""]
    out += [_regenerate(res, png, docs_dir), ""]
    for key in others:
        other = _result(results, key, env)
        if other is not None:
            png_k = results_dir / f"{result_stem(key, env)}.png"
            out += [_oracle_image(key, env, png_k, docs_dir), ""]
            out += [_oracle_claim(key, env, other), ""]
            out += [_regenerate(other, png_k, docs_dir), ""]
    return out


def _oracle_image(key: str, env: str, png: Path, docs_dir: Path) -> str:
    return block("oracle_image", short=FIGURES[key].short, env=env, png=_rel(png, docs_dir))


def _oracle_claim(key: str, env: str, res: FigureResult) -> str:
    return block(
        "oracle_claim", short=FIGURES[key].short, env=env, verdict=res.claim.verdict,
        detail=res.claim.detail,
    )  # fmt: skip


def _oracle_table(res: FigureResult) -> str:
    oracle = _ctx_mean(res.references.get(ORACLE), "cost")
    rows: list[tuple[str, AlgorithmResult | ReferenceResult, int | None]] = [
        (a, e, len(e.seeds)) for a, e in res.algorithms.items()
    ]
    rows += [(a, e, None) for a, e in res.references.items()]

    def order(row: tuple[str, Any, int | None]) -> tuple[float, bool]:
        cost = _ctx_mean(row[1], "cost")  # by cost; the oracle first among equals
        return (math.inf if cost is None else cost, row[0] != ORACLE)

    lines = []
    for algo, e, seeds in sorted(rows, key=order):
        cost = _ctx_mean(e, "cost")
        ctx = e.context or {}
        if seeds is None:
            cells = [_num(_ctx_mean(e, m)) for m in TABLE_METRICS]
        else:
            cells = [_interval(ctx.get(m)) for m in TABLE_METRICS]
        lines.append(
            block(
                "oracle_row",
                algorithm=label(algo),
                seeds="–" if seeds is None else seeds,
                cost=cells[0],
                times=f"{cost / oracle:.2f}" if cost is not None and oracle else "–",
                timeouts=cells[1],
                offloads=cells[2],
            )  # fmt: skip
        )
    return block("oracle_table", rows="\n".join(lines))


# --------------------------------------------------------------------------- verbatim units
def _verbatim_section(results: Results) -> list[str]:
    kb = _result(results, FINAL_EVALUATION_FIGURE, "paper_kb")
    paper = _result(results, FINAL_EVALUATION_FIGURE, "paper")
    cfg = make_config("paper")
    best_rate = float(cfg.subchannel_bw_hz.max()) * math.log2(1 + cfg.p_max_w * cfg.gain_lin[1])
    head = block(
        "verbatim_head",
        local=f"{cfg.task_bits[0] * cfg.cycles_per_bit[0] / cfg.f_max_hz:.2f}",
        upload=f"{cfg.task_bits[0] / best_rate:.2f}",
        server=f"{cfg.task_bits[0] * cfg.cycles_per_bit[0] / float(cfg.f_server_hz.max()):.2f}",
        deadline=f"{cfg.deadline_s[1]:g}",
    )
    out = [head, ""]
    if not (kb and paper):
        return out + [block("verbatim_not_measured", figure=FINAL_EVALUATION_FIGURE), ""]
    names = list(dict.fromkeys(list(kb.algorithms) + list(paper.algorithms)))
    names += [r for r in dict.fromkeys(list(kb.references) + list(paper.references))]
    rows = [_verbatim_row(algo, kb, paper) for algo in names]
    out += [block("verbatim_table", rows="\n".join(rows)), ""]
    return out + _verbatim_findings(kb, paper)


def _verbatim_row(algo: str, kb: FigureResult, paper: FigureResult) -> str:
    def ctx(res: FigureResult, metric: str) -> str:
        return _num(_ctx_mean(res.algorithms.get(algo) or res.references.get(algo), metric))

    return block(
        "verbatim_row", algorithm=label(algo), cost_kb=ctx(kb, "cost"),
        cost_paper=ctx(paper, "cost"), timeouts_kb=ctx(kb, "timeout_rate"),
        timeouts_paper=ctx(paper, "timeout_rate"), offloads_kb=ctx(kb, "offload_rate"),
        offloads_paper=ctx(paper, "offload_rate"),
    )  # fmt: skip


def _span(values: Sequence[float]) -> str:
    lo, hi = min(values), max(values)
    return _num(lo) if math.isclose(lo, hi, rel_tol=1e-3) else f"{_num(lo)}–{_num(hi)}"


def _verbatim_findings(kb: FigureResult, paper: FigureResult) -> list[str]:
    """Sentences comparing the two unit readings, every number taken from the results."""
    out = []
    timeouts = [*_means(paper.algorithms, "timeout_rate").values()]
    timeouts += [*_means(paper.references, "timeout_rate").values()]
    cost_kb = {**_means(kb.algorithms, "cost"), **_means(kb.references, "cost")}
    cost_p = {**_means(paper.algorithms, "cost"), **_means(paper.references, "cost")}
    common = [a for a in cost_kb if a in cost_p and cost_kb[a] > 0]
    learn_kb, learn_p = _means(kb.algorithms, "cost"), _means(paper.algorithms, "cost")
    off_kb, off_p = _means(kb.algorithms, "offload_rate"), _means(paper.algorithms, "offload_rate")
    if timeouts:
        out.append(block("verbatim_timeouts", span=_span(timeouts)))
    if common:
        ratios = sorted(cost_p[a] / cost_kb[a] for a in common)
        out.append(
            block(
                "verbatim_cost_ratio",
                median=f"{ratios[len(ratios) // 2]:,.0f}",
                low=f"{ratios[0]:,.0f}",
                high=f"{ratios[-1]:,.0f}",
            )  # fmt: skip
        )
    for name, lk, lp in (("cost", learn_kb, learn_p), ("offload rate (%)", off_kb, off_p)):
        if lk and lp:
            spread = _spread(lk, lp) if name == "cost" else ""
            out.append(
                block(
                    "verbatim_learners",
                    name=name,
                    kb=_span(list(lk.values())),
                    paper=_span(list(lp.values())),
                    spread=spread,
                )  # fmt: skip
            )
    if learn_kb and learn_p:
        best_kb, best_p = min(learn_kb, key=learn_kb.get), min(learn_p, key=learn_p.get)
        same = "the same learner" if best_kb == best_p else "a different learner"
        out.append(block("verbatim_cheapest", kb=label(best_kb), paper=label(best_p), same=same))
    return out + [""] if out else out


def _spread(kb: dict[str, float], paper: dict[str, float]) -> str:
    """The learners' relative cost spread under both readings (empty if a cost is 0)."""
    if min(kb.values()) <= 0 or min(paper.values()) <= 0:
        return ""

    def rel(v: dict[str, float]) -> str:
        return f"{(max(v.values()) - min(v.values())) / min(v.values()) * 100:.0f}"

    return block("verbatim_spread", kb=rel(kb), paper=rel(paper))


# --------------------------------------------------------------------------- differences
def _differences(profile: Profile) -> list[str]:
    paper = PROFILES[PAPER_PROFILE]
    out = [block("differences_head"), ""]
    for sweep, budget in profile.budgets.items():
        pb = paper.budget(sweep.split("-", 1)[0])
        if budget != pb:
            out.append(
                block(
                    "differences_budget",
                    sweep=sweep,
                    seeds=budget.seeds,
                    episodes=budget.episodes,
                    updates=budget.updates_per_episode,
                    paper_seeds=pb.seeds,
                    paper_episodes=pb.episodes,
                    paper_updates=pb.updates_per_episode,
                )  # fmt: skip
            )
    for env, choice in profile.env_substitutes.items():
        overrides = f" with {choice.overrides}" if choice.overrides else ""
        out.append(block("differences_env", env=env, preset=choice.preset, overrides=overrides))
    if tuple(profile.n_values) != PAPER_N_VALUES:
        out.append(block("differences_n_axis", n_values=list(profile.n_values)))
    fixed = block("differences_fixed", polyorder=SAVGOL_POLYORDER, oracle_env=ORACLE_ENV)
    return out + [fixed, ""]


def write_report(
    profile_name: str,
    results_root: Path,
    out_path: Path,
    runs_root: Path | None = None,
) -> Path:
    profile = PROFILES[profile_name]
    render(
        profile,
        Path(results_root) / profile_name,
        Path(out_path),
        timings_path=Path(results_root) / TIMINGS_FILE,
        runs_root=runs_root,
    )
    return Path(out_path)
