"""Score stability: do the clients scored lately look like the ones the model was built on?

The population stability index (PSI) compares the recent window of logged scores of a
version (core.serving.predictions) with its development scores, the holdout probabilities
the version stored at training time, in ten bins fixed on the development deciles:

    PSI = sum over bins of (recent share - development share) * ln(recent share / development share)

An empty bin counts as a share of EPSILON (0.0001) so that the logarithm is defined. The
characteristic stability index (CSI) is the same sum for one feature, with deciles of the
version's stored training sample (evaluation["train_sample"], core.ml.evaluation) for numeric
features and one bin per category for CATEGORICAL ones. Both are also computed per day or
per week of the window, for a chart.

Verdict bands are rules of thumb from credit scoring practice, not tests: under 0.10
stable, 0.10 to 0.25 watch, above 0.25 act. A window (or a day) with fewer than MIN_SCORES
scores is "too few to judge" and gets no index.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from core.db.engine import connect
from core.db.schema import Prediction
from core.ml.registry import format_version, get_version
from core.serving.predictions import recent_scores
from core.vocabulary import FEATURES, STATUS

BINS = 10
EPSILON = 1e-4
MIN_SCORES = 100
STABLE_BELOW = 0.10
ACT_ABOVE = 0.25
STABLE, WATCH, ACT, TOO_FEW = "stable", "watch", "act", "too few to judge"
RULES = (
    "Rules of thumb, not tests: under 0.10 stable, 0.10 to 0.25 watch (something moved), "
    "above 0.25 act (the population changed: check the data and consider retraining)."
)
CATEGORICAL = ("SEX", "EDUCATION", "MARRIAGE", *STATUS)
PERIODS = ("day", "week")
DEFAULT_WINDOW = 5_000
MAX_WINDOW = 50_000
NO_PROBABILITIES = (
    "version {version} stored no holdout probabilities (it was saved before they were "
    "kept), so the score's PSI cannot be computed; train it again to have it"
)
NO_SAMPLE = "version {version} stored no training sample, so the features' CSI cannot be computed"


@dataclass(frozen=True)
class Bin:
    """One bin of an index: its label, the development and recent shares, its term."""

    label: str
    development: float
    recent: float
    term: float


@dataclass(frozen=True)
class Index:
    """A PSI or CSI: its value (None when too few scores), scores compared and verdict."""

    name: str
    value: float | None
    scores: int
    verdict: str
    bins: list[Bin] = field(default_factory=list)


@dataclass(frozen=True)
class Period:
    """The score's PSI over the scores logged in one day or week (starting `start`)."""

    start: str
    scores: int
    value: float | None
    verdict: str


@dataclass(frozen=True)
class Stability:
    """The stability of one version's recent window against its development data.

    `score` is the PSI of the probabilities (None when the version stored no holdout
    probabilities), `over_time` the PSI per `period`, `features` the CSI of each feature
    sorted highest first (empty without a training sample), `notes` what could not be
    computed and why.
    """

    version: str
    window: int
    scores: int
    period: str
    score: Index | None
    over_time: list[Period]
    features: list[Index]
    development_scores: int
    development_sample: int
    notes: list[str]

    def as_dict(self) -> dict:
        """Plain JSON for the API."""
        return asdict(self) | {"rules": RULES, "epsilon": EPSILON, "min_scores": MIN_SCORES}


def verdict(value: float | None, scores: int) -> str:
    """STABLE, WATCH or ACT by the rule-of-thumb bands; TOO_FEW under MIN_SCORES scores."""
    if scores < MIN_SCORES or value is None:
        return TOO_FEW
    if value < STABLE_BELOW:
        return STABLE
    return WATCH if value <= ACT_ABOVE else ACT


def decile_edges(development) -> np.ndarray:
    """The inner cut points of BINS bins holding a tenth of `development` each; fewer
    when values repeat (a cut point shared by two deciles is kept once)."""
    values = np.asarray(development, dtype=float)
    return np.unique(np.quantile(values, np.arange(1, BINS) / BINS))


def binned_shares(values, edges: np.ndarray) -> np.ndarray:
    """The share of `values` in each bin cut at `edges`: bin i holds edges[i-1] <= v <
    edges[i], the first everything under edges[0], the last everything from edges[-1]."""
    values = np.asarray(values, dtype=float)
    index = np.searchsorted(edges, values, side="right")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return counts / max(len(values), 1)


def psi(development_shares, recent_shares) -> float:
    """The stability index of two sets of shares over the same bins (EPSILON for empty)."""
    terms = _terms(np.asarray(development_shares), np.asarray(recent_shares))
    return float(terms.sum())


def _terms(development: np.ndarray, recent: np.ndarray) -> np.ndarray:
    d = np.maximum(development, EPSILON)
    r = np.maximum(recent, EPSILON)
    return (r - d) * np.log(r / d)


def numeric_index(name: str, development, recent) -> Index:
    """The index of `recent` against `development` in bins on the development deciles."""
    edges = decile_edges(development)
    labels = _interval_labels(edges)
    shares = [binned_shares(values, edges) for values in (development, recent)]
    return _index(name, shares[0], shares[1], labels, len(recent))


def categorical_index(name: str, development, recent) -> Index:
    """The index of `recent` against `development` with one bin per category seen in
    either (a category the development never had gets the EPSILON share there)."""
    development = np.asarray(development, dtype=np.int64)
    recent = np.asarray(recent, dtype=np.int64)
    categories = np.union1d(np.unique(development), np.unique(recent))
    shares = [_category_shares(v, categories) for v in (development, recent)]
    labels = [str(c) for c in categories]
    return _index(name, shares[0], shares[1], labels, len(recent))


def _category_shares(values: np.ndarray, categories: np.ndarray) -> np.ndarray:
    counts = np.array([(values == c).sum() for c in categories], dtype=float)
    return counts / max(len(values), 1)


def _index(name, development, recent, labels, scores) -> Index:
    terms = _terms(development, recent)
    bins = [
        Bin(label, float(d), float(r), float(t))
        for label, d, r, t in zip(labels, development, recent, terms, strict=True)
    ]
    value = float(terms.sum()) if scores >= MIN_SCORES else None
    return Index(name, value, scores, verdict(value, scores), bins)


def _interval_labels(edges: np.ndarray) -> list[str]:
    points = [f"{e:.4g}" for e in edges]
    if not points:
        return ["all"]
    middle = [f"{low} to {high}" for low, high in pairwise(points)]
    return [f"< {points[0]}", *middle, f">= {points[-1]}"]


def feature_index(name: str, development, recent) -> Index:
    """CSI of one feature: by category for CATEGORICAL features, else by deciles."""
    if name in CATEGORICAL:
        return categorical_index(name, development, recent)
    return numeric_index(name, development, recent)


def over_time(development, recent: pd.DataFrame, period: str = "day") -> list[Period]:
    """The score's PSI per day or week of `recent` (created_at, probability), oldest
    first, in bins fixed on the `development` deciles; periods are UTC days, or weeks
    starting on Monday."""
    if period not in PERIODS:
        raise ValueError(f"period {period!r} is not one of {', '.join(PERIODS)}")
    if recent.empty:
        return []
    edges = decile_edges(development)
    expected = binned_shares(development, edges)
    starts = _period_starts(recent["created_at"], period)
    rows = []
    for start, group in recent["probability"].groupby(starts, sort=True):
        n = len(group)
        value = psi(expected, binned_shares(group, edges)) if n >= MIN_SCORES else None
        rows.append(Period(start.date().isoformat(), n, value, verdict(value, n)))
    return rows


def _period_starts(created_at: pd.Series, period: str) -> pd.Series:
    days = pd.to_datetime(created_at, utc=True).dt.floor("D")
    if period == "week":
        days = days - pd.to_timedelta(days.dt.weekday, unit="D")
    return days


def check_window(window: int) -> int:
    """`window` when it is a whole number of scores from 1 to MAX_WINDOW, else ValueError
    naming it."""
    if isinstance(window, bool) or not isinstance(window, int):
        raise ValueError(f"window must be a whole number of scores, not {window!r}")
    if not 1 <= window <= MAX_WINDOW:
        raise ValueError(f"window must be from 1 to {MAX_WINDOW:,} scores, not {window:,}")
    return window


def stability(
    engine: Engine,
    version: str,
    window: int = DEFAULT_WINDOW,
    period: str = "day",
    evaluation: Mapping[str, Any] | None = None,
) -> Stability:
    """PSI and CSI of the newest `window` logged scores of `version` against its stored
    development data, and the PSI per `period` ("day" or "week"). VersionError for an
    unknown version, ValueError for a bad window or period.

    `evaluation` is the version's stored evaluation when the caller already holds it (a
    loaded model's, core.serving.scoring); without it the parts needed are read.
    """
    check_window(window)
    if period not in PERIODS:
        raise ValueError(f"period {period!r} is not one of {', '.join(PERIODS)}")
    if evaluation is None:
        info = get_version(engine, version, parts=["probabilities", "train_sample"])
        version, evaluation = info.version, info.evaluation
    else:
        version = format_version(version)
    recent = recent_scores(engine, version=version, limit=window)
    development = np.asarray(evaluation.get("probabilities") or [], dtype=float)
    sample = evaluation.get("train_sample") or {}
    notes = []
    score, series = None, []
    if len(development):
        score = numeric_index("probability", development, recent["probability"].to_numpy(float))
        series = over_time(development, recent, period)
    else:
        notes.append(NO_PROBABILITIES.format(version=version))
    features = _feature_indexes(sample, recent)
    if not features:
        notes.append(NO_SAMPLE.format(version=version))
    if len(recent) < MIN_SCORES:
        notes.append(
            f"only {len(recent):,} scores of version {version} are logged: "
            f"{MIN_SCORES} or more are needed to judge stability"
        )
    sample_rows = max((len(v) for v in sample.values()), default=0)
    return Stability(
        version, window, len(recent), period, score, series, features,
        len(development), sample_rows, notes,
    )  # fmt: skip


def _feature_indexes(sample: dict, recent: pd.DataFrame) -> list[Index]:
    indexes = [
        feature_index(name, sample[name], recent[name].to_numpy())
        for name in FEATURES
        if sample.get(name)
    ]
    return sorted(indexes, key=lambda i: (i.value is None, -(i.value or 0.0), i.name))


def recent_probabilities(engine: Engine, version: str, limit: int = DEFAULT_WINDOW) -> np.ndarray:
    """The newest `limit` logged probabilities of `version` (only that column: cheap)."""
    table = Prediction.__table__
    query = (
        select(table.c.probability)
        .where(table.c.version == version)
        .order_by(table.c.id.desc())
        .limit(limit)
    )
    with connect(engine) as connection:
        return np.asarray(connection.scalars(query).all(), dtype=float)


def score_stability(
    engine: Engine,
    version: str,
    window: int = DEFAULT_WINDOW,
    evaluation: Mapping[str, Any] | None = None,
) -> Index | None:
    """Only the score's PSI over the newest `window` scores (no features, no series): what
    Home shows. None when the version stored no holdout probabilities. `evaluation` as for
    stability: the parts the caller already read (it needs "probabilities")."""
    check_window(window)
    if evaluation is None:
        info = get_version(engine, version, parts=["probabilities"])
        version, evaluation = info.version, info.evaluation
    else:
        version = format_version(version)
    development = evaluation.get("probabilities") or []
    if not development:
        return None
    recent = recent_probabilities(engine, version, window)
    return numeric_index("probability", np.asarray(development, dtype=float), recent)
