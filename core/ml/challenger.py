"""A challenger against the champion: the two versions side by side on the same holdout
clients and on the recent scored window, before the challenger is promoted.

On the holdout (labels known): AUC of each with a 95% interval and the difference's 95%
interval by paired bootstrap (the same resampled clients for both models, a fixed seed),
Brier score and KS of each, both reliability curves, fairness ratios side by side (as
stored with each version), and the swap set: the clients whose label changes from one
version to the other, each at its own threshold. The challenger is "significantly better"
when the difference's interval (challenger minus champion) lies above 0.

Which holdout clients (`basis`): the versions' stored holdouts when they hold the same
clients (SAME); else the clients both holdouts share, when there are at least MIN_SHARED
(SHARED), with each version's stored probabilities. Never the registered pipelines
scoring a holdout again: a version's pipeline is refitted on every client of its sample,
its holdout included (core.ml.experiment), so it would score its own holdout as if it
were perfect. Versions whose holdouts share too few clients cannot be compared on labels
(ComparisonError says so); train the challenger with the champion's sample and seed.

On the recent scored window (the prediction log; labels unknown): both models score the
same logged clients; their mean probability, share flagged and the swap set's counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Engine

from core.ml.calibration import calibration_report
from core.ml.evaluation import THRESHOLD, read_holdout_clients
from core.ml.registry import get_version
from core.vocabulary import ID, TARGET

RESAMPLES = 1_000
SEED = 13
LEVEL = 0.95
CHUNK = 200  # resamples computed at once: bounds memory at CHUNK x rows floats
MIN_SHARED = 200  # fewer shared holdout clients than this: no comparison on labels
TOP_SWAPS = 20
RECENT_ROWS = 5_000

SAME = "the same holdout clients: both versions stored them"
SHARED = "the {rows:,} clients both versions' holdouts share: neither version trained on them"
TOO_FEW_SHARED = (
    "their holdouts share {shared:,} clients with both classes among them, fewer than "
    "{least}: the two versions were trained on other samples or seeds. Their pipelines "
    "cannot score a holdout again fairly (each was refitted on every client of its "
    "sample); train the challenger with the champion's sample size and seed"
)
BETTER, WORSE, NO_DIFFERENCE = (
    "significantly better",
    "significantly worse",
    "not significantly different",
)
PARTS = ["probabilities", "holdout_clients", "threshold", "confusion", "roc", "fairness"]


class ComparisonError(ValueError):
    """Two versions that cannot be compared (a holdout that is neither stored nor
    rebuildable, a version compared with itself); the message says why."""


@dataclass(frozen=True)
class Interval:
    """A value and its 95% interval."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Comparison:
    """A challenger against the champion. `holdout` and `recent` are plain dicts (see
    compare_predictions and recent_window); `recent` is None with `recent_note` saying why
    when the window could not be scored."""

    challenger: str
    champion: str
    basis: str
    holdout: dict
    fairness: list[dict]
    recent: dict | None
    recent_note: str | None = None

    @property
    def verdict(self) -> str:
        """BETTER, WORSE or NO_DIFFERENCE: where the AUC difference's interval lies."""
        return self.holdout["verdict"]

    @property
    def significantly_better(self) -> bool:
        """Whether the challenger's AUC is above the champion's beyond chance (95%)."""
        return self.verdict == BETTER

    def as_dict(self) -> dict:
        """Plain JSON, for the API and the page."""
        return asdict(self) | {"significantly_better": self.significantly_better}


def bootstrap_aucs(
    y: np.ndarray, scores: list[np.ndarray], resamples: int = RESAMPLES, seed: int = SEED
) -> np.ndarray:
    """AUC of each of `scores` on `resamples` bootstrap resamples of the rows, the same
    resamples for every score (paired): an array (len(scores), resamples).

    Vectorised: a resample is a row of counts (how often each client was drawn, clients
    in score order), and its AUC is the Mann-Whitney statistic of those weights: for each
    drawn defaulter, the weight of non-defaulters scored below it, ties counting half.
    """
    y = np.asarray(y).astype(int)
    n = len(y)
    rng = np.random.default_rng(seed)
    result = np.empty((len(scores), resamples))
    ranked = [_ranked(np.asarray(s, dtype=float), y) for s in scores]
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        drawn = rng.integers(0, n, size=(size, n))
        offset = np.arange(size)[:, None] * n
        for i, (rank, defaulters, tie_start, tie_end) in enumerate(ranked):
            counts = np.bincount((rank[drawn] + offset).ravel(), minlength=size * n)
            counts = counts.reshape(size, n)
            negative = counts.copy()
            negative[:, defaulters] = 0
            below = np.zeros((size, n + 1))
            np.cumsum(negative, axis=1, out=below[:, 1:])  # weight of the first k clients
            under, tied = below[:, tie_start], below[:, tie_end] - below[:, tie_start]
            positive = counts[:, defaulters]
            pairs = positive.sum(axis=1) * negative.sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):  # NaN: one class drawn
                result[i, start : start + size] = (positive * (under + 0.5 * tied)).sum(
                    axis=1
                ) / pairs
    return result


def _ranked(score: np.ndarray, y: np.ndarray):
    """Each client's position in score order; the positions of the defaulters; where the
    run of scores equal to each defaulter's starts and ends."""
    order = np.argsort(score, kind="mergesort")
    ordered = score[order]
    new_run = np.r_[True, ordered[1:] != ordered[:-1]]
    run = np.cumsum(new_run) - 1
    starts = np.flatnonzero(new_run)
    ends = np.r_[starts[1:], len(score)]
    rank = np.empty(len(score), dtype=np.int64)
    rank[order] = np.arange(len(score))
    defaulters = np.flatnonzero(y[order] == 1)
    return rank, defaulters, starts[run[defaulters]], ends[run[defaulters]]


def _interval(value: float, draws: np.ndarray) -> Interval:
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.nanpercentile(draws, [tail, 100 - tail])
    return Interval(float(value), float(low), float(high))


def ks_statistic(y: np.ndarray, probability: np.ndarray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the defaulters' and the others'
    cumulative distributions of probability (max of TPR - FPR)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y, probability)
    return float(np.max(tpr - fpr))


def compare_predictions(
    y,
    challenger,
    champion,
    *,
    thresholds: tuple[float, float] = (THRESHOLD, THRESHOLD),
    ids=None,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> dict:
    """Two models' probabilities on the same labelled clients, side by side.

    {"rows", "auc": {"challenger", "champion", "difference"} (each value, low, high:
    95% paired-bootstrap intervals; difference = challenger - champion), "verdict",
    "brier" and "ks" of each, "calibration" (each one's reliability curve report),
    "swaps" (see swap_set)}. `thresholds` are (challenger's, champion's).
    """
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y).astype(int)
    new, old = np.asarray(challenger, dtype=float), np.asarray(champion, dtype=float)
    if not (len(y) == len(new) == len(old)):
        raise ComparisonError(f"{len(y)} labels but {len(new)} and {len(old)} probabilities")
    if len(np.unique(y)) < 2:
        raise ComparisonError("the clients compared hold one class only: no AUC")
    draws = bootstrap_aucs(y, [new, old], resamples, seed)
    auc_new, auc_old = roc_auc_score(y, new), roc_auc_score(y, old)
    difference = _interval(auc_new - auc_old, draws[0] - draws[1])
    if difference.low > 0:
        verdict = BETTER
    elif difference.high < 0:
        verdict = WORSE
    else:
        verdict = NO_DIFFERENCE
    calibration = {"challenger": calibration_report(y, new), "champion": calibration_report(y, old)}
    return {
        "rows": int(len(y)),
        "resamples": resamples,
        "auc": {
            "challenger": asdict(_interval(auc_new, draws[0])),
            "champion": asdict(_interval(auc_old, draws[1])),
            "difference": asdict(difference),
        },
        "verdict": verdict,
        "brier": {k: calibration[k]["brier"] for k in calibration},
        "ks": {"challenger": ks_statistic(y, new), "champion": ks_statistic(y, old)},
        "calibration": calibration,
        "swaps": swap_set(new, old, thresholds, ids=ids, y=y),
    }


def swap_set(challenger, champion, thresholds, *, ids=None, y=None, top: int = TOP_SWAPS) -> dict:
    """The clients whose label changes when the challenger replaces the champion, each
    version labelling at its own threshold (challenger's, champion's):

    {"to_default": clients the champion passes and the challenger flags,
     "to_not_default": the reverse, "unchanged": the rest,
     "defaulted": {"to_default": of those, how many defaulted; ...} when labels are known,
     "top": the `top` swapped clients with the largest change in probability}.
    """
    new, old = np.asarray(challenger, dtype=float), np.asarray(champion, dtype=float)
    new_label, old_label = new >= thresholds[0], old >= thresholds[1]
    to_default, to_not = new_label & ~old_label, old_label & ~new_label
    result = {
        "to_default": int(to_default.sum()),
        "to_not_default": int(to_not.sum()),
        "unchanged": int(len(new) - to_default.sum() - to_not.sum()),
    }
    if y is not None:
        y = np.asarray(y).astype(int)
        result["defaulted"] = {
            "to_default": int(y[to_default].sum()),
            "to_not_default": int(y[to_not].sum()),
        }
    swapped = np.flatnonzero(to_default | to_not)
    swapped = swapped[np.argsort(-np.abs(new - old)[swapped], kind="mergesort")][:top]
    rows = []
    for i in swapped:
        row = {
            "champion": round(float(old[i]), 5),
            "challenger": round(float(new[i]), 5),
            "change": "to default" if to_default[i] else "to not default",
        }
        if ids is not None:
            row = {ID: int(ids[i])} | row
        if y is not None:
            row["defaulted"] = int(y[i])
        rows.append(row)
    result["top"] = rows
    return result


# --- Two registered versions -------------------------------------------------------------


def compare(
    engine: Engine,
    challenger: str,
    champion: str,
    *,
    recent: bool = True,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> Comparison:
    """`challenger` against `champion` (registered versions): on their holdout clients
    (which ones: `basis`, see the module docstring) and, with `recent`, on the newest
    RECENT_ROWS clients of the prediction log. ComparisonError when they cannot be
    compared; VersionError for an unknown version."""
    new = get_version(engine, challenger, parts=PARTS)
    old = get_version(engine, champion, parts=PARTS)
    if new.version == old.version:
        raise ComparisonError(f"version {new.version} is compared with itself")
    basis, y, ids, p_new, p_old = aligned_holdout(engine, new, old)
    thresholds = (_threshold(new), _threshold(old))
    holdout = compare_predictions(
        y, p_new, p_old, thresholds=thresholds, ids=ids, resamples=resamples, seed=seed
    )
    fairness = fairness_side_by_side(new.evaluation.get("fairness"), old.evaluation.get("fairness"))
    window, note = None, "not asked for"
    if recent:
        window, note = recent_window(engine, new.version, old.version, thresholds)
    return Comparison(new.version, old.version, basis, holdout, fairness, window, note)


def significantly_better(engine: Engine, challenger: str, champion: str) -> tuple[bool, str]:
    """(whether `challenger`'s holdout AUC is significantly above `champion`'s, in words
    why or why not): what promotion asks when no reason is given."""
    try:
        comparison = compare(engine, challenger, champion, recent=False)
    except ComparisonError as exc:
        return False, f"the two versions cannot be compared: {exc}"
    diff = comparison.holdout["auc"]["difference"]
    words = (
        f"version {comparison.challenger} against champion {comparison.champion} on "
        f"{comparison.holdout['rows']:,} holdout clients: AUC difference {diff['value']:+.4f}, "
        f"95% interval {diff['low']:+.4f} to {diff['high']:+.4f}, {comparison.verdict}"
    )
    return comparison.significantly_better, words


def _threshold(info) -> float:
    return float(info.evaluation.get("threshold", THRESHOLD))


def holdout_of(engine: Engine, info) -> pd.DataFrame:
    """A version's holdout clients: ID (when known), default and `probability`, in the
    stored probabilities' order; rebuilt for versions saved before clients were stored
    (core.ml.trust). ComparisonError when there is no usable holdout."""
    from core.ml.trust import rebuilt_holdout

    probability = np.asarray(info.evaluation.get("probabilities") or [], dtype=float)
    stored = info.evaluation.get("holdout_clients")
    if stored and TARGET in stored:
        clients = read_holdout_clients(stored)
    else:
        clients, why = rebuilt_holdout(engine, info)
        if clients is None:
            raise ComparisonError(f"version {info.version} has no usable holdout: {why}")
    if len(clients) != len(probability):
        raise ComparisonError(
            f"version {info.version} stored {len(probability)} holdout probabilities for "
            f"{len(clients)} holdout clients"
        )
    return clients.assign(probability=probability)


def aligned_holdout(engine: Engine, new, old):
    """(basis, labels, ids, challenger's probabilities, champion's) on one set of clients."""
    first, second = holdout_of(engine, new), holdout_of(engine, old)
    if ID not in first or ID not in second:
        if len(first) == len(second) and np.array_equal(first[TARGET], second[TARGET]):
            basis = f"{SAME} (no IDs stored: the same size and labels in the same order)"
            return basis, first[TARGET], None, first["probability"], second["probability"]
        raise ComparisonError("the holdouts hold no client IDs and are not the same clients")
    if np.array_equal(first[ID].to_numpy(), second[ID].to_numpy()):
        return SAME, first[TARGET], first[ID], first["probability"], second["probability"]
    shared = first.merge(second[[ID, "probability"]], on=ID, suffixes=("", "_champion"))
    if len(shared) >= MIN_SHARED and shared[TARGET].nunique() == 2:
        basis = SHARED.format(rows=len(shared))
        p_new, p_old = shared["probability"], shared["probability_champion"]
        return basis, shared[TARGET], shared[ID], p_new, p_old
    shared_rows = len(shared) if shared[TARGET].nunique() == 2 else 0
    raise ComparisonError(TOO_FEW_SHARED.format(shared=shared_rows, least=MIN_SHARED))


def _scores(engine: Engine, version: str, features: pd.DataFrame) -> np.ndarray:
    from core.serving.scoring import get_model

    return get_model(engine, version).probabilities(features)


def recent_window(engine: Engine, challenger: str, champion: str, thresholds):
    """(both models on the newest logged clients: rows, mean probability and share
    flagged of each, the swap set's counts; None) or (None, why not)."""
    from core.db.engine import DatabaseError
    from core.ml.registry import ArtifactError, VersionError
    from core.serving.predictions import recent_scores
    from core.settings import SettingsError

    try:
        logged = recent_scores(engine, limit=RECENT_ROWS)
        if logged.empty:
            return None, "no client has been scored yet"
        p_new = _scores(engine, challenger, logged)
        p_old = _scores(engine, champion, logged)
    except (ArtifactError, VersionError, SettingsError, DatabaseError) as exc:
        return None, f"the recent clients could not be scored: {exc}"
    swaps = swap_set(p_new, p_old, thresholds, top=0)
    del swaps["top"]
    return {
        "rows": int(len(logged)),
        "since": logged["created_at"].min().isoformat(),
        "mean": {"challenger": float(p_new.mean()), "champion": float(p_old.mean())},
        "flagged": {
            "challenger": float(np.mean(p_new >= thresholds[0])),
            "champion": float(np.mean(p_old >= thresholds[1])),
        },
        "swaps": swaps,
    }, None


def fairness_side_by_side(challenger: dict | None, champion: dict | None) -> list[dict]:
    """Each group's approval ratio to the most favoured group under both versions (as
    stored; None where a version did not judge it): attribute, group, challenger,
    champion, and whether each was flagged under the four-fifths rule."""
    rows: dict[tuple[str, str], dict] = {}
    for side, report in (("challenger", challenger), ("champion", champion)):
        for attribute in (report or {}).get("attributes", {}).values():
            for group in attribute["groups"]:
                key = (attribute["name"], group["group"])
                row = rows.setdefault(
                    key,
                    {"attribute": key[0], "group": key[1], "challenger": None, "champion": None},
                )
                row[side] = group.get("ratio")
                row[f"{side}_flagged"] = bool(group.get("flagged"))
    return list(rows.values())
