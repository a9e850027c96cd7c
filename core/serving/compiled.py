"""A model version's lean predictor: its pipeline's steps as numpy, without pandas.

A PyCaret pipeline spends milliseconds per client in pandas (its wrappers rebuild frames
around each transformer); the fitted estimator's own `predict_proba` on a numpy row is the
limit. `compile_pipeline` reads the pipeline's prediction steps (core.ml.experiment
describes them, so no PyCaret internals are read here), implements each as numpy, and
checks on sample rows that the result equals the pipeline's probabilities within
TOLERANCE. If a step is unknown or the check fails, the caller keeps the pipeline and the
reason is recorded.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from core.data.dataset import DOMAINS
from core.ml.experiment import UnsupportedStep, serving_steps
from core.vocabulary import FEATURES

log = logging.getLogger(__name__)

TOLERANCE = 1e-9
RANDOM_ROWS = 200
# LightGBM predicts on every core by default: for a few rows the threads cost far more than
# the trees (milliseconds instead of a tenth of one). Larger batches keep its default.
SINGLE_THREAD_ROWS = 1_000

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Verification:
    """How a version is served: by its compiled predictor or, with the reason, its pipeline.

    `max_difference` is the largest gap between the two on `rows` sample rows (None when
    no compiled predictor could be built).
    """

    compiled: bool
    reason: str | None
    max_difference: float | None
    rows: int

    def as_dict(self) -> dict:
        """The record stored in a version's evaluation under "serving"."""
        return {
            "predictor": "compiled" if self.compiled else "pipeline",
            "reason": self.reason,
            "max_difference": self.max_difference,
            "rows": self.rows,
            "tolerance": TOLERANCE,
        }


def compile_pipeline(
    pipeline: Any, sample: Mapping[str, Sequence] | None = None
) -> tuple[Predictor | None, Verification]:
    """The pipeline's numpy predictor, verified, or None and why not.

    The predictor takes a float array of clients (rows) by FEATURES (columns) and returns
    each one's probability of default. It is checked against `pipeline.predict_proba` on
    the rows of `sample` (columns of feature values, as a version's stored training sample)
    plus RANDOM_ROWS random rows across each feature's domain and a few with gaps.
    """
    rows = verification_rows(sample)
    try:
        predictor = _build(serving_steps(pipeline))
    except UnsupportedStep as exc:
        return None, Verification(False, f"no numpy form for {exc}", None, len(rows))
    try:
        expected = pipeline.predict_proba(pd.DataFrame(rows, columns=FEATURES))[:, 1]
        actual = predictor(rows)
    except Exception as exc:  # a model the numpy form cannot serve: keep the pipeline
        return None, Verification(False, f"the check failed to run: {exc}", None, len(rows))
    difference = float(np.max(np.abs(actual - expected))) if len(rows) else 0.0
    if not difference <= TOLERANCE:  # NaN fails too
        reason = f"its probabilities differ from the pipeline's by up to {difference:.3g}"
        return None, Verification(False, reason, difference, len(rows))
    return predictor, Verification(True, None, difference, len(rows))


def verification_rows(sample: Mapping[str, Sequence] | None = None) -> np.ndarray:
    """Rows to check a predictor on: the sample's, random ones and some with gaps."""
    random = np.random.default_rng(0)
    low = np.array([DOMAINS[name][0] for name in FEATURES], dtype=np.int64)
    high = np.array([DOMAINS[name][1] for name in FEATURES], dtype=np.int64)
    spread = random.integers(low, high, size=(RANDOM_ROWS, len(FEATURES)), endpoint=True)
    # Amounts drawn over their whole domain are huge; also draw them near everyday sizes.
    modest = random.integers(np.maximum(low, -50_000), np.minimum(high, 500_000), endpoint=True,
                             size=(RANDOM_ROWS, len(FEATURES)))  # fmt: skip
    parts = [spread.astype(float), modest.astype(float)]
    if sample and all(name in sample and len(sample[name]) for name in FEATURES):
        parts.insert(0, np.column_stack([np.asarray(sample[n], dtype=float) for n in FEATURES]))
    gaps = modest[:5].astype(float)
    gaps[np.arange(5), random.integers(0, len(FEATURES), size=5)] = np.nan
    parts.append(gaps)
    return np.vstack(parts)


def _build(steps: list[tuple[str, Any]]) -> Predictor:
    calibrate = None
    if steps[-1][0] == "calibrate":
        calibrate, steps = steps[-1][1], steps[:-1]
    fills, dropped = [], set()
    for kind, value in steps[:-1]:
        if kind == "drop":
            dropped |= set(value)
            continue
        if kind != "fill":
            raise UnsupportedStep(f"a step of kind {kind!r}")
        unknown = set(value) - set(FEATURES)
        if unknown:
            raise UnsupportedStep(f"an imputer of columns {sorted(unknown)}")
        index = np.array([FEATURES.index(name) for name in value], dtype=np.intp)
        fills.append((index, np.array(list(value.values()), dtype=float)))
    predictor = _estimator_predictor(steps[-1][1], fills, dropped)
    if calibrate is None:
        return predictor
    return lambda rows: calibrate(predictor(rows))


def _estimator_predictor(estimator: Any, fills: list, dropped: set[str]) -> Predictor:
    order = _column_order(estimator, dropped)
    bare = _without_feature_names(estimator)
    lightgbm = hasattr(estimator, "booster_")

    def predict(rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, dtype=float)
        if fills and np.isnan(rows).any():
            rows = rows.copy()
            for index, values in fills:
                block = rows[:, index]
                gaps = np.isnan(block)
                rows[:, index] = np.where(gaps, values, block)
        if order is not None:
            rows = rows[:, order]
        if lightgbm and len(rows) < SINGLE_THREAD_ROWS:
            return bare.predict_proba(rows, num_threads=1)[:, 1]
        return bare.predict_proba(rows)[:, 1]

    return predict


def _column_order(estimator: Any, dropped: set[str]) -> np.ndarray | None:
    """Where the estimator's columns are among FEATURES (None: the same order); a model
    trained without the `dropped` columns has every other feature."""
    names = getattr(estimator, "feature_names_in_", None)
    kept = [name for name in FEATURES if name not in dropped]
    if names is None:
        if dropped:
            raise UnsupportedStep("an estimator without column names after a dropping step")
        return None
    names = [str(n) for n in names]
    if names == FEATURES:
        return None
    if sorted(names) != sorted(kept):
        raise UnsupportedStep(f"an estimator fitted on other columns ({names[:3]}...)")
    return np.array([FEATURES.index(name) for name in names], dtype=np.intp)


def _without_feature_names(estimator: Any) -> Any:
    """A shallow copy that does not check column names: scikit-learn warns on every numpy
    row otherwise (the columns are ordered here instead). The fitted state is shared."""
    bare = copy.copy(estimator)
    if "feature_names_in_" in vars(bare):
        del bare.feature_names_in_
    return bare
