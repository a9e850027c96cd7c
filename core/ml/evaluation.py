"""Holdout evaluation of a fitted model for the charts: ROC and precision-recall curves,
confusion at 0.5, holdout metrics, feature importance and a sample of training values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.vocabulary import FEATURES

CURVE_POINTS = 200
TRAIN_SAMPLE_VALUES = 300


def evaluate(model, x_test: pd.DataFrame, y_test: pd.Series, x_train: pd.DataFrame, seed: int):
    """Holdout evaluation for the charts: ROC and PR points, confusion at 0.5, importance."""
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
    predicted = (probability >= 0.5).astype(int)
    fpr, tpr, _ = roc_curve(y, probability)
    precision, recall, _ = precision_recall_curve(y, probability)
    tn, fp, fn, tp = confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    importance, kind = feature_importance(model, x_test, y, seed)
    fpr, tpr = _thin(fpr, tpr)
    recall, precision = _thin(recall[::-1], precision[::-1])
    return {
        "roc": {"fpr": fpr, "tpr": tpr, "auc": float(roc_auc_score(y, probability))},
        "pr": {"recall": recall, "precision": precision},
        "confusion": {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)},
        "threshold": 0.5,
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
    }


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
