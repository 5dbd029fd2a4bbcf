"""Typed records of an aggregated figure, and their JSON form.

:func:`experiments.aggregate.aggregate_figure` returns a :class:`FigureResult`;
:mod:`experiments.plotting` draws one and :mod:`experiments.report` reads them back from
``experiments/results/<profile>/<fig>_<env>.json``. ``as_dict`` writes exactly the JSON the
results have always had (key order included, non-finite numbers as ``null``); ``from_dict``
reads it back, NaN for ``null``, and fills what older files lack (e.g. the beyond-the-paper
keys of a claim) with empty values, so every committed result still loads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

import numpy as np

from experiments.profiles import Budget


def clean(v: Any) -> Any:
    """A JSON-ready scalar: numpy scalars as Python ones, NaN and infinities as ``None``."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.floating | np.integer):
        return clean(v.item())
    return v


def _float(v: Any) -> float:
    """A JSON number back as a float, ``None`` as NaN."""
    return math.nan if v is None else float(v)


@dataclass(frozen=True, kw_only=True)
class Interval:
    """Mean and two-sided 95% Student-t interval across seeds (NaN where undefined)."""

    mean: float
    low: float
    high: float
    n: int
    std: float

    def as_dict(self) -> dict[str, float | int | None]:
        return {f.name: clean(getattr(self, f.name)) for f in fields(Interval)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Interval:
        return cls(
            mean=_float(d.get("mean")), low=_float(d.get("low")), high=_float(d.get("high")),
            n=int(d.get("n") or 0), std=_float(d.get("std")),
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class SeedValues:
    """Per-seed values (seed order) and their :class:`Interval`."""

    interval: Interval
    values: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {**self.interval.as_dict(), "values": list(self.values)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SeedValues:
        values = tuple(_float(v) for v in d.get("values", ()))
        return cls(interval=Interval.from_dict(d), values=values)


@dataclass(frozen=True, kw_only=True)
class CurvePoint:
    """One x of a curve: the seeds that have it, their mean and 95% interval."""

    x: float
    n_seeds: int
    mean: float
    low: float
    high: float

    def as_row(self) -> list[Any]:
        return [clean(v) for v in (self.x, self.n_seeds, self.mean, self.low, self.high)]

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> CurvePoint:
        x, n, mean, low, high = row
        return cls(x=x, n_seeds=n, mean=_float(mean), low=_float(low), high=_float(high))


def _contexts_dict(context: Mapping[str, Interval]) -> dict[str, Any]:
    return {metric: iv.as_dict() for metric, iv in context.items()}


def _contexts_from(d: Mapping[str, Any] | None) -> dict[str, Interval]:
    return {metric: Interval.from_dict(iv) for metric, iv in (d or {}).items()}


@dataclass(frozen=True, kw_only=True)
class AlgorithmResult:
    """A learner's runs in one figure. Curve figures fill ``final``, ``context``, ``curve``
    (and ``mean_over_training`` for a training metric); ``vs_n`` figures fill ``per_n``
    (keyed by N as text, as in the JSON). ``None`` = not part of this kind of figure."""

    seeds: tuple[int, ...]
    final: SeedValues | None = None
    mean_over_training: SeedValues | None = None
    context: Mapping[str, Interval] | None = None
    curve: tuple[CurvePoint, ...] | None = None
    per_n: Mapping[str, SeedValues] | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seeds": list(self.seeds)}
        if self.final is not None:
            out["final"] = self.final.as_dict()
        if self.mean_over_training is not None:
            out["mean_over_training"] = self.mean_over_training.as_dict()
        if self.context is not None:
            out["context"] = _contexts_dict(self.context)
        if self.curve is not None:
            out["curve"] = [p.as_row() for p in self.curve]
        if self.per_n is not None:
            out["per_n"] = {n: v.as_dict() for n, v in self.per_n.items()}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AlgorithmResult:
        def values(key: str) -> SeedValues | None:
            return SeedValues.from_dict(d[key]) if key in d else None

        return cls(
            seeds=tuple(d.get("seeds", ())),
            final=values("final"),
            mean_over_training=values("mean_over_training"),
            context=_contexts_from(d["context"]) if "context" in d else None,
            curve=tuple(map(CurvePoint.from_row, d["curve"])) if "curve" in d else None,
            per_n={n: SeedValues.from_dict(v) for n, v in d["per_n"].items()}
            if "per_n" in d
            else None,
        )


@dataclass(frozen=True, kw_only=True)
class ReferenceResult:
    """A reference policy's line: ``value`` and ``context`` (curve figures) or ``per_n``."""

    value: float | None = None
    context: Mapping[str, Interval] | None = None
    per_n: Mapping[str, float] | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.per_n is not None:
            return {"per_n": {n: clean(v) for n, v in self.per_n.items()}}
        return {"value": clean(self.value), "context": _contexts_dict(self.context or {})}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReferenceResult:
        if "per_n" in d:
            return cls(per_n={n: _float(v) for n, v in d["per_n"].items()})
        return cls(value=_float(d.get("value")), context=_contexts_from(d.get("context")))


@dataclass(frozen=True, kw_only=True)
class ClaimResult:
    """The paper's claim a figure checks, its verdict among the paper's five, and UCMS against
    the learners beyond the paper (``ucms_worse_than``: those significantly better)."""

    text: str
    kind: str
    verdict: str
    detail: str
    beyond_paper: str = ""
    beyond_paper_summary: str = ""
    ucms_worse_than: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ucms_worse_than": list(self.ucms_worse_than)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ClaimResult:
        return cls(
            text=d.get("text", ""), kind=d.get("kind", ""), verdict=d.get("verdict", ""),
            detail=d.get("detail", ""), beyond_paper=d.get("beyond_paper", ""),
            beyond_paper_summary=d.get("beyond_paper_summary", ""),
            ucms_worse_than=tuple(d.get("ucms_worse_than", ())),
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Smoothing:
    """How a training curve was smoothed (``none`` for evaluation curves)."""

    method: str
    every: int
    window: int | None = None
    polyorder: int | None = None


@dataclass(frozen=True, kw_only=True)
class Runtime:
    """What the figure's sweep cost: runs, their summed wall time, the launches' wall time."""

    sweep: str
    runs: int
    worker_s: float
    launch_wall_s: float
    launchers: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "launchers": list(self.launchers)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Runtime:
        return cls(
            sweep=d.get("sweep", ""), runs=d.get("runs", 0), worker_s=d.get("worker_s", 0.0),
            launch_wall_s=d.get("launch_wall_s", 0.0), launchers=tuple(d.get("launchers", ())),
        )  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class Commands:
    """The commands that train the figure's runs and aggregate them."""

    run: str
    plot: str


def _budget_from(d: Mapping[str, Any]) -> Budget:
    """A :class:`Budget` from its JSON form; fields an older or partial file lacks are 0."""
    required = {f.name: 0 for f in fields(Budget) if f.default is MISSING}
    return Budget(**{**required, **d})


@dataclass(frozen=True, kw_only=True)
class FigureResult:
    """Everything one figure on one env shows (see :mod:`experiments.aggregate`)."""

    figure: str
    title: str
    profile: str
    env: str
    preset: str
    env_overrides: Mapping[str, Any]
    n_slots: int
    n_uds: tuple[int, ...]
    metric: str
    phase: str
    kind: str
    ylabel: str
    unit: str
    better: str
    smoothing: Smoothing
    budget: Budget
    reference_episodes: int
    algorithms: Mapping[str, AlgorithmResult]
    references: Mapping[str, ReferenceResult]
    claim: ClaimResult
    messages: tuple[str, ...] = ()
    runtime: Runtime = field(
        default_factory=lambda: Runtime(sweep="", runs=0, worker_s=0.0, launch_wall_s=0.0)
    )
    commands: Commands = field(default_factory=lambda: Commands(run="", plot=""))

    def as_dict(self) -> dict[str, Any]:
        """The JSON form, in the key order the committed results have."""
        return {
            "figure": self.figure, "title": self.title, "profile": self.profile,
            "env": self.env, "preset": self.preset, "env_overrides": self.env_overrides,
            "n_slots": self.n_slots, "n_uds": list(self.n_uds), "metric": self.metric,
            "phase": self.phase, "kind": self.kind, "ylabel": self.ylabel, "unit": self.unit,
            "better": self.better, "smoothing": asdict(self.smoothing),
            "budget": asdict(self.budget), "reference_episodes": self.reference_episodes,
            "algorithms": {a: e.as_dict() for a, e in self.algorithms.items()},
            "references": {a: e.as_dict() for a, e in self.references.items()},
            "claim": self.claim.as_dict(), "messages": list(self.messages),
            "runtime": self.runtime.as_dict(), "commands": asdict(self.commands),
        }  # fmt: skip

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FigureResult:
        """Read a result JSON back; descriptive keys an older file lacks get empty values."""
        smoothing = d.get("smoothing") or {"method": "none", "every": 1}
        return cls(
            figure=d["figure"], title=d.get("title", d["figure"]), profile=d.get("profile", ""),
            env=d["env"], preset=d.get("preset", d["env"]),
            env_overrides=d.get("env_overrides") or {}, n_slots=d.get("n_slots", 0),
            n_uds=tuple(d.get("n_uds", ())), metric=d.get("metric", ""),
            phase=d.get("phase", "eval"), kind=d.get("kind", "curve"),
            ylabel=d.get("ylabel", ""), unit=d.get("unit", ""), better=d.get("better", ""),
            smoothing=Smoothing(**smoothing), budget=_budget_from(d.get("budget", {})),
            reference_episodes=d.get("reference_episodes", 0),
            algorithms={a: AlgorithmResult.from_dict(e) for a, e in d["algorithms"].items()},
            references={a: ReferenceResult.from_dict(e) for a, e in d["references"].items()},
            claim=ClaimResult.from_dict(d.get("claim", {})),
            messages=tuple(d.get("messages", ())),
            runtime=Runtime.from_dict(d.get("runtime", {})),
            commands=Commands(**d["commands"]) if "commands" in d else Commands(run="", plot=""),
        )  # fmt: skip
