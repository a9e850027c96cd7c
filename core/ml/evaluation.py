"""Holdout evaluation of a fitted model for the charts: ROC and precision-recall curves,
confusion at the threshold, holdout metrics, feature importance, a sample of training
values, and whether it can be trusted: calibration (core.ml.calibration) and fairness by
group (core.ml.fairness), with the holdout clients they were computed on.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from core.ml.calibration import calibration_report, uncalibrated
from core.ml.fairness import ATTRIBUTES, fairness_report
from core.vocabulary import FEATURES, ID, TARGET

CURVE_POINTS = 200
TRAIN_SAMPLE_VALUES = 300
THRESHOLD = 0.5
# Holdout columns whose values are one digit (the data set's domains): stored as strings.
DIGIT_COLUMNS = (TARGET, "SEX", "EDUCATION", "MARRIAGE")


def evaluate(
    model,
    x_test: pd.DataFrame,
    y_test: pd.Series,
    x_train: pd.DataFrame,
    seed: int,
    clients: pd.DataFrame | None = None,
):
    """Holdout evaluation for the charts: ROC and PR points, confusion at the threshold,
    importance; calibration and fairness (see trust); the holdout clients.

    `clients` holds ID and the ATTRIBUTES of the holdout rows, in x_test's order (the
    model may not have been given them); without it fairness is not computed.
    """
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        precision_recall_curve,
        precision_score,
        recall_score,
        roc_auc_score,
        roc_curve,
    )

    y = np.asarray(y_test).astype(int)
    probability = model.predict_proba(x_test)[:, 1]
    predicted = (probability >= THRESHOLD).astype(int)
    fpr, tpr, _ = roc_curve(y, probability)
    precision, recall, _ = precision_recall_curve(y, probability)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    importance, kind = feature_importance(uncalibrated(model), x_test, y, seed)
    fpr, tpr = _thin(fpr, tpr)
    recall, precision = _thin(recall[::-1], precision[::-1])
    return {
        "roc": {"fpr": fpr, "tpr": tpr, "auc": float(roc_auc_score(y, probability))},
        "pr": {"recall": recall, "precision": precision},
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "threshold": THRESHOLD,
        "holdout": {
            "Accuracy": float(accuracy_score(y, predicted)),
            "AUC": float(roc_auc_score(y, probability)),
            "Recall": float(recall_score(y, predicted, zero_division=0)),
            "Prec.": float(precision_score(y, predicted, zero_division=0)),
            "F1": float(f1_score(y, predicted, zero_division=0)),
        },
        "importance": importance,
        "importance_kind": kind,
        "holdout_rows": int(len(y)),
        "probabilities": [round(float(p), 5) for p in probability],
        "train_sample": _train_sample(x_train, seed),
        **trust(y, probability, clients, THRESHOLD),
        "holdout_clients": holdout_clients(clients, y),
    }


def trust(
    y: np.ndarray, probability: np.ndarray, clients: pd.DataFrame | None, threshold: float
) -> dict:
    """{"calibration": ..., "fairness": ..., "trust_seconds": s}: calibration on the
    holdout, fairness by group when `clients` holds the groups (else None), and the time
    both took."""
    started = time.perf_counter()
    calibration = calibration_report(y, probability)
    fairness = None
    if clients is not None:
        fairness = fairness_report(y, probability, clients.reset_index(drop=True), threshold)
    seconds = time.perf_counter() - started
    return {"calibration": calibration, "fairness": fairness, "trust_seconds": seconds}


def holdout_clients(clients: pd.DataFrame | None, y: np.ndarray) -> dict | None:
    """The holdout clients, compactly, in the order of the stored probabilities: their IDs
    and AGE as lists, the one-digit columns (default, SEX, EDUCATION, MARRIAGE) as strings
    of digits. What calibration and fairness can be computed again from."""
    if clients is None:
        return None
    stored: dict = {}
    if ID in clients:
        stored[ID] = [int(v) for v in clients[ID]]
    columns = {TARGET: np.asarray(y).astype(int)}
    columns |= {name: clients[name].to_numpy() for name in ATTRIBUTES if name in clients}
    for name, values in columns.items():
        if name in DIGIT_COLUMNS:
            stored[name] = "".join(str(int(v)) for v in values)
        else:
            stored[name] = [int(v) for v in values]
    return stored


def read_holdout_clients(stored: dict) -> pd.DataFrame:
    """The frame holdout_clients stored: ID (when stored), default and the attributes."""
    columns = {}
    for name, values in stored.items():
        if isinstance(values, str):
            values = [int(digit) for digit in values]
        columns[name] = np.asarray(values, dtype=np.int64)
    return pd.DataFrame(columns)


def feature_importance(model, x: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[dict, str]:
    """{feature: importance} and what kind: the model's own, else permutation on the holdout."""
    names = list(x.columns)
    values, kind = None, ""
    if hasattr(model, "feature_importances_"):
        values, kind = np.asarray(model.feature_importances_, dtype=float), "impurity decrease"
    elif getattr(model, "coef_", None) is not None:
        # Coefficients on unscaled features are not comparable; scale each by its spread.
        coef = np.abs(np.asarray(model.coef_, dtype=float)).reshape(-1)
        if len(coef) == len(names):
            values, kind = coef * x.std().to_numpy(), "standardised coefficient"
    if values is None or len(values) != len(names):
        from sklearn.inspection import permutation_importance

        rows = min(len(x), 1_000)
        result = permutation_importance(
            model, x.iloc[:rows], y[:rows], n_repeats=3, random_state=seed, scoring="roc_auc"
        )
        values, kind = result.importances_mean, "permutation (drop in AUC)"
    return {name: float(v) for name, v in zip(names, values, strict=True)}, kind


def _thin(xs: np.ndarray, ys: np.ndarray, points: int = CURVE_POINTS) -> tuple[list, list]:
    """At most `points` points of a curve, its ends kept."""
    if len(xs) > points:
        keep = np.unique(np.linspace(0, len(xs) - 1, points).round().astype(int))
        xs, ys = xs[keep], ys[keep]
    return [round(float(v), 5) for v in xs], [round(float(v), 5) for v in ys]


def _train_sample(x_train: pd.DataFrame, seed: int) -> dict[str, list]:
    rows = x_train.sample(n=min(TRAIN_SAMPLE_VALUES, len(x_train)), random_state=seed)
    return {name: rows[name].tolist() for name in FEATURES if name in rows}
