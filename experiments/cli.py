"""``python -m experiments``: train, plot and report the paper's Figures 4-11.

    python -m experiments list                                  # figures, profiles, algorithms
    python -m experiments plan all --profile medium             # jobs, commands, time estimate
    python -m experiments time --profile medium                 # measure per-episode timings
    python -m experiments run fig5 --profile medium [--env paper] [--launcher slurm] [-- k=v ...]
    python -m experiments plot fig5 --profile medium [--env paper]
    python -m experiments report --profile medium               # docs/results.md
    python -m experiments report --profile smoke                # <results-dir>/smoke/results.md
    python -m experiments reproduce --profile medium            # all of the above, in order

Figures: fig4 ... fig11 or ``all``. ``--env`` picks the environment of the main and N sweeps
(``paper_kb`` by default, ``paper`` for the verbatim units; the energy figures always use
``paper_energy``). Overrides after ``--`` go to every ``ucms_marl.train`` job, e.g.
``-- hydra.launcher.partition=cpu device=cuda``. Only the committed profile (``medium``)
writes ``docs/results.md``; every other profile's page goes next to its results,
``<results-dir>/<profile>/results.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from experiments import aggregate, catalog, launch, plotting, report, timing
from experiments.profiles import PROFILES, profile

EXPERIMENTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = EXPERIMENTS_DIR.parent
DEFAULT_RUNS = EXPERIMENTS_DIR / "runs"
DEFAULT_RESULTS = EXPERIMENTS_DIR / "results"
DEFAULT_REPORT = REPO_ROOT / "docs" / "results.md"
COMMITTED_PROFILE = "medium"  # the profile whose results and page (DEFAULT_REPORT) are committed


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m experiments", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1],
    )  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp: argparse.ArgumentParser, figures: bool = True) -> None:
        if figures:
            sp.add_argument("figures", nargs="*", default=["all"], help="fig4 ... fig11 or all")
        sp.add_argument("--profile", default="medium", choices=sorted(PROFILES))
        sp.add_argument("--env", default=None, help="paper_kb (default) or paper, for figs 4-8")
        sp.add_argument("--runs-dir", type=Path, default=DEFAULT_RUNS, help="raw run directories")
        sp.add_argument(
            "--results-dir", type=Path, default=DEFAULT_RESULTS, help="aggregated results root"
        )

    sub.add_parser("list", help="figures, sweeps, profiles and algorithm availability")
    sp = sub.add_parser("plan", help="print the jobs, Hydra commands and a time estimate")
    common(sp)
    sp.add_argument("--launcher", default="local", choices=launch.LAUNCHERS)
    sp = sub.add_parser("time", help="measure seconds per episode and per update (probes)")
    common(sp)
    sp.add_argument("--launcher", default="local", choices=launch.LAUNCHERS)
    sp.add_argument("--algos", default="", help="comma-separated: probe only these algorithms")
    for name, helptext in (
        ("run", "launch the Hydra multiruns the figures need (missing runs only)"),
        (
            "reproduce",
            "run + plot every figure (fig5, fig6 on paper_kb and paper; fig5, fig8 on small "
            "with the oracle) + report",
        ),
    ):
        sp = sub.add_parser(name, help=helptext)
        common(sp, figures=name == "run")
        sp.add_argument("--launcher", default="local", choices=launch.LAUNCHERS)
        sp.add_argument(
            "--keep-checkpoints", action="store_true", help="keep checkpoint.pt of finished runs"
        )
        sp.add_argument("--quiet", action="store_true")
        if name == "reproduce":
            sp.add_argument(
                "--report", type=Path, default=None,
                help=f"results page (default: docs/results.md for --profile {COMMITTED_PROFILE}, "
                "else <results-dir>/<profile>/results.md)",
            )  # fmt: skip
    sp = sub.add_parser("plot", help="aggregate the runs' metrics.jsonl into PNG, CSV and JSON")
    common(sp)
    sp = sub.add_parser("report", help="write the results page from the aggregated results")
    common(sp, figures=False)
    sp.add_argument(
        "--output", type=Path, default=None,
        help=f"results page (default: docs/results.md for --profile {COMMITTED_PROFILE}, "
        "else <results-dir>/<profile>/results.md)",
    )  # fmt: skip
    return p


def _split_extra(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    argv = list(argv)
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1 :]
    return argv, []


def _requests(figs: Sequence[str], env: str | None) -> list[catalog.SweepRequest]:
    return catalog.sweep_requests(catalog.figures_for(figs), env)


def cmd_list() -> int:
    print("figures:")
    for key, fig in catalog.FIGURES.items():
        envs = "/".join(fig.envs) if fig.envs else fig.default_env
        print(f"  {key:6s} {fig.title}  [sweep {fig.sweep}, env {envs}, {fig.phase} {fig.metric}]")
    print("sweeps:")
    for s in catalog.SWEEPS.values():
        print(f"  {s.name:7s} {s.description}")
    print("profiles:")
    for p in PROFILES.values():
        print(f"  {p.name:7s} {p.description}")
    print("algorithms:")
    for a in catalog.PAPER_ALGORITHMS + catalog.REFERENCE_POLICIES + (catalog.ORACLE,):
        state = "available" if catalog.algo_config_exists(a) else "NOT IMPLEMENTED YET (skipped)"
        print(f"  {a:20s} {state}")
    return 0


def cmd_plan(args: argparse.Namespace, extra: list[str]) -> int:
    prof = profile(args.profile)
    requests = _requests(args.figures, args.env)
    for req in requests:
        plan = launch.plan_sweep(req, prof, args.runs_dir)
        missing = plan.missing()
        print(
            f"[{plan.sweep}-{plan.env}] {len(plan.jobs)} runs ({len(missing)} to train): "
            f"learners {plan.learners}, references {plan.references}, seeds {plan.budget.seeds},"
            f" episodes {plan.budget.episodes}"
            + (f", N {list(prof.n_values)}" if plan.n_values != [None] else "")
        )
        for cmd in launch.commands_for(plan, launcher=args.launcher, extra=extra):
            print("  $ python " + " ".join(_quote(c) for c in cmd[1:]))
    timings_path = args.results_dir / timing.TIMINGS_FILE
    if not timings_path.exists():
        print(f"no timings yet ({timings_path}): run `python -m experiments time` for an estimate")
        return 0
    est = timing.estimate(requests, prof, args.runs_dir, json.loads(timings_path.read_text()))
    print(f"\nestimate on {est['workers']} workers (timings of {est['timings_measured']}):")
    for row in est["sweeps"]:
        if row["sweep"] in est["unknown"]:
            env = row["sweep"].split("-", 1)[1]
            print(
                f"  {row['sweep']:22s} {row['runs']:4d} runs  no timings for env `{env}`: "
                f"run `python -m experiments time --profile {prof.name} --env {env}`"
            )
            continue
        flag = (
            f"  [extrapolated: {', '.join(row['estimated_from_other_measurements'])}]"
            if row["estimated_from_other_measurements"]
            else ""
        )
        print(
            f"  {row['sweep']:22s} {row['runs']:4d} runs  {row['worker_s'] / 60:7.1f} worker-min"
            f"  {row['wall_s'] / 60:7.1f} min wall{flag}"
        )
    if len(est["unknown"]) < len(est["sweeps"]):
        without = f"  (without {', '.join(est['unknown'])})" if est["unknown"] else ""
        print(f"  {'total':22s} {'':9s} {est['worker_s'] / 60:7.1f} worker-min"
              f"  {est['wall_s'] / 60:7.1f} min wall{without}")  # fmt: skip
    return 0


def _quote(arg: str) -> str:
    return f"'{arg}'" if any(c in arg for c in "${}[] ") else arg


def cmd_time(args: argparse.Namespace) -> int:
    prof = profile(args.profile)
    requests = _requests(args.figures, args.env)
    plans = [launch.plan_sweep(r, prof, args.runs_dir) for r in requests]
    only = [a for a in args.algos.split(",") if a]
    timing.measure(
        plans,
        args.runs_dir / "_timing",
        args.results_dir / timing.TIMINGS_FILE,
        launcher=args.launcher,
        only=only,
    )
    print(f"wrote {args.results_dir / timing.TIMINGS_FILE}")
    return 0


def cmd_run(args: argparse.Namespace, extra: list[str], requests=None) -> int:
    prof = profile(args.profile)
    requests = requests if requests is not None else _requests(args.figures, args.env)
    failed = []
    for req in requests:
        plan = launch.plan_sweep(req, prof, args.runs_dir)
        if not plan.learners and not plan.references:
            print(f"[{req.sweep}-{req.env}] nothing available to run", file=sys.stderr)
            continue
        try:
            launch.run_plan(
                plan,
                launcher=args.launcher,
                extra=extra,
                keep_checkpoints=args.keep_checkpoints,
                echo=None if args.quiet else print,
            )
        except launch.LaunchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed.append(f"{req.sweep}-{req.env}")
    if failed:
        print(f"failed sweeps: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def plot_figures(
    figs: Sequence[str],
    profile_name: str,
    env: str | None,
    runs_dir: Path,
    results_dir: Path,
    *,
    strict: bool,
) -> list[Path]:
    """Aggregate and draw each figure; returns the PNGs written. With ``strict`` a figure
    without runs is an error, otherwise it is reported and skipped."""
    prof = profile(profile_name)
    out_dir = Path(results_dir) / prof.name
    written = []
    for fig in catalog.figures_for(figs):
        fig_env = catalog.env_for(fig, env)
        try:
            result = aggregate.aggregate_figure(fig, prof, fig_env, runs_dir)
        except aggregate.NoRunsError as exc:
            if strict:
                raise
            print(f"skipped {fig.key} ({fig_env}): {exc}", file=sys.stderr)
            continue
        json_path, _ = aggregate.write_result(result, out_dir)
        png = plotting.plot_result(result, json_path.with_suffix(".png"))
        print(f"{fig.key} ({fig_env}): {result.claim.verdict} -> {png}")
        written.append(png)
    return written


def cmd_plot(args: argparse.Namespace) -> int:
    strict = args.figures not in (["all"], [])
    try:
        written = plot_figures(
            args.figures, args.profile, args.env, args.runs_dir, args.results_dir, strict=strict
        )
    except aggregate.NoRunsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not written:
        print("error: no figure had any run to plot", file=sys.stderr)
        return 1
    return 0


class ReportPathError(ValueError):
    """A profile other than the committed one asked to write docs/results.md."""


def report_path(profile_name: str, results_dir: Path, output: Path | None) -> Path:
    """Where ``report`` writes the page of ``profile_name``: ``output`` if given, else
    docs/results.md for the committed profile and ``<results_dir>/<profile>/results.md`` for
    any other. Only the committed profile may write docs/results.md."""
    if output is None:
        if profile_name == COMMITTED_PROFILE:
            return DEFAULT_REPORT
        return Path(results_dir) / profile_name / "results.md"
    if profile_name != COMMITTED_PROFILE and Path(output).resolve() == DEFAULT_REPORT:
        raise ReportPathError(
            f"{DEFAULT_REPORT.relative_to(REPO_ROOT)} holds the committed "
            f"`{COMMITTED_PROFILE}` results; profile `{profile_name}` writes its page to "
            f"{Path(results_dir) / profile_name / 'results.md'} (or pass another --output)"
        )
    return Path(output)


def cmd_report(args: argparse.Namespace, output: Path | None) -> int:
    try:
        output = report_path(args.profile, args.results_dir, output)
    except ReportPathError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    path = report.write_report(args.profile, args.results_dir, output, runs_root=args.runs_dir)
    print(f"wrote {path}")
    if args.profile != COMMITTED_PROFILE:
        print(
            f"(profile `{args.profile}`: docs/results.md is left as it is; only "
            f"--profile {COMMITTED_PROFILE} writes it)"
        )
    return 0


def cmd_reproduce(args: argparse.Namespace, extra: list[str]) -> int:
    try:  # refuse before training, not after
        report_path(args.profile, args.results_dir, args.report)
    except ReportPathError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    requests, oracle_env = catalog.reproduce_requests(profile(args.profile))
    rc = cmd_run(args, extra, requests=requests)
    plot_figures(["all"], args.profile, None, args.runs_dir, args.results_dir, strict=False)
    for figs, env in ((catalog.BOTH_UNITS, "paper"), (catalog.ORACLE_FIGURES, oracle_env)):
        if env is not None:
            plot_figures(figs, args.profile, env, args.runs_dir, args.results_dir, strict=False)
    report_rc = cmd_report(args, args.report)
    return rc or report_rc


def main(argv: Sequence[str] | None = None) -> int:
    own, extra = _split_extra(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(own)
    warnings.simplefilter("default")
    warnings.formatwarning = lambda msg, cat, *a, **k: f"warning: {msg}\n"  # type: ignore
    if extra and args.command not in ("run", "reproduce", "plan"):
        print(f"error: overrides after -- only apply to run/plan, got {extra}", file=sys.stderr)
        return 2
    if args.command == "list":
        return cmd_list()
    if args.command == "plan":
        return cmd_plan(args, extra)
    if args.command == "time":
        return cmd_time(args)
    if args.command == "run":
        return cmd_run(args, extra)
    if args.command == "plot":
        return cmd_plot(args)
    if args.command == "report":
        return cmd_report(args, args.output)
    return cmd_reproduce(args, extra)
