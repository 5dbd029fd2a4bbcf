"""What the paper's figures are: algorithms, reference policies, sweeps and figures, in one place.

An *algorithm* here is a name of an ``ucms_marl`` algorithm config (``conf/algo/<name>.yaml``).
The five paper algorithms are listed once, in :data:`PAPER_ALGORITHMS`; learners beyond the
paper (MAPPO, IPPO, UCMS_MAPPO) in :data:`BEYOND_PAPER`, drawn as extra rows of Figs 5-8 and
left out of the paper's verdicts. A new one slots in by adding its name to one of them (its
label and colour come with its learner's registration, :func:`label`, :func:`colour`). An
algorithm whose config does not exist yet is skipped with a message
(:func:`available_algorithms`), never a crash.

A *sweep* is one Hydra multirun of ``ucms_marl.train`` over algorithms x seeds (x N): the
figures that read the same runs share a sweep, so ``run fig5`` after ``run fig4`` only trains
what is still missing. A *figure* says which sweep it reads, which metric of the runs'
``metrics.jsonl`` it plots, how (curve over training, final value vs N) and which paper claim it
checks.
"""

from __future__ import annotations

import importlib.resources
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mec_env.registry import Registry
from ucms_marl.learners import algorithms

# --------------------------------------------------------------------------- algorithms
# The paper's five algorithms (docs/algorithms.md), in the order of its legends.
PAPER_ALGORITHMS: tuple[str, ...] = (
    "ucms_maddpg",
    "rd_ucms_maddpg",
    "maddpg",
    "offloadcost_maddpg",
    "deadline_maddpg",
)
# Learners beyond the paper, shown as extra rows next to the five (docs/algorithms.md): the
# modern on-policy baselines. The paper's claims are judged among PAPER_ALGORITHMS only; how
# UCMS_MADDPG compares with these is reported beside each verdict.
BEYOND_PAPER: tuple[str, ...] = ("mappo", "ippo", "ucms_mappo")
UCMS = "ucms_maddpg"  # the paper's proposal: the algorithm every claim is about
# Non-learning references drawn as reference lines (docs/algorithms.md, "for context").
REFERENCE_POLICIES: tuple[str, ...] = ("greedy", "all_local", "all_offload")
ORACLE = "oracle"  # exact per-slot optimum by enumeration: only on these presets
ORACLE_PRESETS: frozenset[str] = frozenset({"small"})
ORACLE_ENV = "small"  # where `reproduce` compares every algorithm with the oracle

# Each algorithm's label, colour and line style come from the registration of the learner it
# is built on (``algorithms=`` of ``ucms_marl.learners.LEARNERS.register``); an algorithm no
# learner declares is shown by its name, in a colour derived from the name.
_FALLBACK_COLOURS = ("#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94")
BEYOND_PAPER_SUFFIX = " (beyond the paper)"  # how labels mark the learners beyond the paper


def label(algo: str) -> str:
    """The algorithm's label in figures and reports, marked if it is beyond the paper."""
    known = algorithms().get(algo)
    return (known.label if known else algo) + (BEYOND_PAPER_SUFFIX if algo in BEYOND_PAPER else "")


def short_label(algo: str) -> str:
    """The label without its beyond-the-paper mark (for sentences that already say so)."""
    return label(algo).replace(BEYOND_PAPER_SUFFIX, "")


def colour(algo: str) -> str:
    """The algorithm's colour; unknown names get a stable colour derived from the name."""
    known = algorithms().get(algo)
    if known:
        return known.colour
    return _FALLBACK_COLOURS[sum(map(ord, algo)) % len(_FALLBACK_COLOURS)]


def linestyle(algo: str) -> Any:
    """The line style of the algorithm's reference line (dashed unless it says otherwise)."""
    known = algorithms().get(algo)
    return known.linestyle if known else "--"


def algo_config_exists(algo: str) -> bool:
    """Whether ``ucms_marl`` ships ``conf/algo/<algo>.yaml`` (source checkout or wheel)."""
    try:
        root = importlib.resources.files("ucms_marl.conf")
    except ModuleNotFoundError:  # pragma: no cover - ucms_marl not installed
        return False
    return (root / "algo" / f"{algo}.yaml").is_file()


def available_algorithms(algos: Iterable[str], *, warn: bool = True) -> list[str]:
    """``algos`` without those the trainer does not know yet (each skipped with a warning)."""
    present, missing = [], []
    for algo in algos:
        (present if algo_config_exists(algo) else missing).append(algo)
    if missing and warn:
        warnings.warn(
            f"skipping {', '.join(missing)}: ucms_marl has no conf/algo/<name>.yaml for "
            f"{'it' if len(missing) == 1 else 'them'} yet (not implemented in this checkout); "
            "rerun the same command once it lands and only the missing runs are trained",
            stacklevel=2,
        )
    return present


def references_for(preset: str, references: Sequence[str] = REFERENCE_POLICIES) -> list[str]:
    """Reference policies for an environment preset: the oracle only where it is exact/fast."""
    refs = list(references)
    if preset in ORACLE_PRESETS and ORACLE not in refs:
        refs.append(ORACLE)
    return refs


# --------------------------------------------------------------------------- sweeps
@dataclass(frozen=True)
class SweepSpec:
    """One multirun shape. Its budget (episodes, seeds, N values) comes from the profile."""

    name: str
    default_env: str  # ucms_marl env group (mec_env preset)
    description: str
    vary_n: bool = False  # also sweep env.n_uds over the profile's N values


SWEEPS: dict[str, SweepSpec] = {
    s.name: s
    for s in (
        SweepSpec(
            name="main",
            default_env="paper_kb",
            description=(
                "five algorithms (+ beyond the paper) x seeds, N = 48, T = 10 (Figs 4, 5, 7, 8)"
            ),
        ),
        SweepSpec(
            name="nsweep",
            default_env="paper_kb",
            description="the five (and beyond-paper) algorithms x seeds x N (Fig. 6)",
            vary_n=True,
        ),
        SweepSpec(
            name="energy",
            default_env="paper_energy",
            description="the energy variant, T = 100 (Figs 9-11)",
        ),
    )
}


# --------------------------------------------------------------------------- figures
@dataclass(frozen=True)
class Claim:
    """A paper claim the figure checks, evaluated by :func:`experiments.aggregate.verdict`.

    kind: ``best`` (UCMS has the best final value of the learners), ``beats`` (UCMS is better
    than ``rival``, on the final value and on the mean over training), ``best_each_n``
    (``best`` at every N) or ``similar`` (no learner differs from UCMS both significantly and
    by more than ``margin``, in plot units).
    """

    text: str
    kind: str
    rival: str | None = None
    margin: float = 0.0


@dataclass(frozen=True)
class FigureSpec:
    key: str
    title: str
    sweep: str
    algorithms: tuple[str, ...]
    metric: str  # key of the metrics.jsonl records
    phase: str  # "train" (every training episode) or "eval" (every eval_every episodes)
    kind: str  # "curve" (value over training) or "vs_n" (final value against N)
    ylabel: str
    better: str  # "higher" or "lower"
    claim: Claim
    smoothing: str = "none"  # train curves: "block" (block means) or "savgol" (Savitzky-Golay)
    scale: str = "none"  # "percent" (x100) or "total" (per UD-slot mean x N x T)
    envs: tuple[str, ...] = ()  # envs the figure is meant for (first = default); () = sweep's

    @property
    def default_env(self) -> str:
        return self.envs[0] if self.envs else SWEEPS[self.sweep].default_env

    @property
    def short(self) -> str:
        """``Fig. 5``: the title up to its colon."""
        return self.title.partition(":")[0]

    @property
    def unit(self) -> str:
        return {"percent": "%", "total": "cost units per episode"}.get(self.scale, "")


RETURN_LABEL = "Return per episode, Σ over T of mean UD reward (−cost)"
#: the figures by key, in the order of the paper (``FIGURES.register(spec.key, spec)`` adds one)
FIGURES: Registry[FigureSpec] = Registry("figure", callables=False)
for _spec in (
    FigureSpec(
        key="fig4",
        title="Fig. 4: training reward, UCMS vs RD_UCMS",
        sweep="main",
        algorithms=("ucms_maddpg", "rd_ucms_maddpg"),
        metric="return",
        phase="train",
        kind="curve",
        ylabel=RETURN_LABEL,
        better="higher",
        claim=Claim(
            text="UCMS_MADDPG converges faster and to a higher training reward than RD_UCMS_MADDPG",
            kind="beats",
            rival="rd_ucms_maddpg",
        ),
        smoothing="block",
    ),
    FigureSpec(
        key="fig5",
        title="Fig. 5: evaluation reward",
        sweep="main",
        algorithms=PAPER_ALGORITHMS + BEYOND_PAPER,
        metric="return",
        phase="eval",
        kind="curve",
        ylabel=RETURN_LABEL,
        better="higher",
        claim=Claim(
            text="UCMS_MADDPG has the best evaluation reward of the five algorithms",
            kind="best",
        ),
        envs=("paper_kb", "paper"),
    ),
    FigureSpec(
        key="fig6",
        title="Fig. 6: total system cost vs number of UDs",
        sweep="nsweep",
        algorithms=PAPER_ALGORITHMS + BEYOND_PAPER,
        metric="cost",
        phase="eval",
        kind="vs_n",
        ylabel="Total system cost per episode, Σ over UDs and slots (ρ1·s + ρ2·J)",
        better="lower",
        claim=Claim(
            text="UCMS_MADDPG has the lowest total system cost for every N", kind="best_each_n"
        ),
        scale="total",
        envs=("paper_kb", "paper"),
    ),
    FigureSpec(
        key="fig7",
        title="Fig. 7: server participation rate over training",
        sweep="main",
        algorithms=PAPER_ALGORITHMS + BEYOND_PAPER,
        metric="participation_rate",
        phase="train",
        kind="curve",
        ylabel="Server participation rate, admitted / requested (%)",
        better="higher",
        claim=Claim(text="UCMS_MADDPG keeps the highest server participation rate", kind="best"),
        smoothing="savgol",
        scale="percent",
    ),
    FigureSpec(
        key="fig8",
        title="Fig. 8: task timeout rate",
        sweep="main",
        algorithms=PAPER_ALGORITHMS + BEYOND_PAPER,
        metric="timeout_rate",
        phase="eval",
        kind="curve",
        ylabel="Tasks timed out (% of UD-slots)",
        better="lower",
        claim=Claim(text="UCMS_MADDPG has the lowest task timeout rate", kind="best"),
        scale="percent",
    ),
    FigureSpec(
        key="fig9",
        title="Fig. 9: evaluation reward, energy variant (T = 100)",
        sweep="energy",
        algorithms=PAPER_ALGORITHMS,
        metric="return",
        phase="eval",
        kind="curve",
        ylabel=RETURN_LABEL,
        better="higher",
        claim=Claim(
            text="UCMS_MADDPG still has the best reward with T = 100, b_max = 1 J", kind="best"
        ),
    ),
    FigureSpec(
        key="fig10",
        title="Fig. 10: task timeout rate, energy variant (T = 100)",
        sweep="energy",
        algorithms=PAPER_ALGORITHMS,
        metric="timeout_rate",
        phase="eval",
        kind="curve",
        ylabel="Tasks timed out (% of UD-slots)",
        better="lower",
        claim=Claim(text="UCMS_MADDPG has the lowest timeout rate with T = 100", kind="best"),
        scale="percent",
    ),
    FigureSpec(
        key="fig11",
        title="Fig. 11: UDs below the battery threshold b_min, energy variant (T = 100)",
        sweep="energy",
        algorithms=PAPER_ALGORITHMS,
        metric="below_battery_rate",
        phase="eval",
        kind="curve",
        ylabel="UDs below b_min (% of UD-slots)",
        better="lower",
        claim=Claim(
            text="UCMS_MADDPG performs similarly to the baselines on the share below b_min",
            kind="similar",
            margin=2.0,  # percentage points: smaller differences count as similar
        ),
        scale="percent",
    ),
):
    FIGURES.register(_spec.key, _spec)


def figure(key: str) -> FigureSpec:
    if key not in FIGURES:
        raise ValueError(f"unknown figure {key!r}; choose one of {', '.join(FIGURES)} or all")
    return FIGURES[key]


def figures_for(keys: Sequence[str]) -> list[FigureSpec]:
    """Expand ``all`` and validate names."""
    if not keys or list(keys) == ["all"]:
        return list(FIGURES.values())
    return [figure(k) for k in keys]


@dataclass
class SweepRequest:
    """The runs one ``run`` command needs from one sweep on one env (merged over figures)."""

    sweep: str
    env: str
    algorithms: list[str] = field(default_factory=list)

    def add(self, algos: Iterable[str]) -> None:
        for a in algos:
            if a not in self.algorithms:
                self.algorithms.append(a)


def env_for(fig: FigureSpec, env: str | None) -> str:
    """The env a figure runs on: ``env`` if given, except for the energy figures, whose
    experiment *is* their preset (``paper_energy``)."""
    if env is None or fig.sweep == "energy":
        return fig.default_env
    return env


def sweep_requests(figs: Sequence[FigureSpec], env: str | None) -> list[SweepRequest]:
    """Group the figures' needs by (sweep, env), keeping algorithm order."""
    requests: dict[tuple[str, str], SweepRequest] = {}
    for fig in figs:
        e = env_for(fig, env)
        req = requests.setdefault((fig.sweep, e), SweepRequest(sweep=fig.sweep, env=e))
        req.add(fig.algorithms)
    return list(requests.values())


# The figures whose environment `--env` may change, run on both unit readings by `reproduce`.
BOTH_UNITS = ("fig5", "fig6")
# The figures the results page reads beyond their own sections (docs/results.md): the final
# evaluation of every policy (its costs, timeouts and offloads, on both unit readings) and the
# cost against N.
FINAL_EVALUATION_FIGURE = "fig5"
COST_VS_N_FIGURE = "fig6"
# The figures `reproduce` also runs on the oracle's preset, where the exact per-slot oracle
# shows how far every algorithm is from the best achievable (docs/results.md).
ORACLE_FIGURES = ("fig5", "fig8")


def reproduce_requests(profile: Any) -> tuple[list[SweepRequest], str | None]:
    """The sweeps ``reproduce`` runs for a :class:`~experiments.profiles.Profile`: every figure
    on its own env, Figs 5-6 on the verbatim ``paper`` units too, and Figs 5 and 8 on the
    oracle's preset (returned as the second item; ``None`` for a profile such as ``smoke``
    that already runs everything there)."""
    requests = sweep_requests(list(FIGURES.values()), None)
    requests += sweep_requests([FIGURES[k] for k in BOTH_UNITS], "paper")
    if any(c.preset == ORACLE_ENV for c in profile.env_substitutes.values()):
        return requests, None
    requests += sweep_requests([FIGURES[k] for k in ORACLE_FIGURES], ORACLE_ENV)
    return requests, ORACLE_ENV
