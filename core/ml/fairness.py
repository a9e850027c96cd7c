"""How a model treats each group of clients: fairness by sex, age band, education and
marital status, on the holdout, at the version's threshold (fairlearn's MetricFrame).

`fairness_report(y, probability, groups, threshold)` gives what a version stores under
evaluation["fairness"]:

    {
      "threshold": 0.5,              # flagged as default when probability >= threshold
      "favourable": "not flagged as default",
      "min_clients": 30, "ratio_floor": 0.8,
      "attributes": {
        "SEX": {
          "name": "sex",
          "reference": "female",     # the most favoured group: highest approval rate
          "flagged": ["male"],       # groups whose ratio is under 0.8
          "groups": [
            {"group": "male", "code": 1, "clients": 2900, "defaulters": 700,
             "default_rate": 0.24, "mean_predicted": 0.23, "auc": 0.77,
             "tpr": 0.35, "fpr": 0.05, "selection_rate": 0.11,   # share flagged
             "approval_rate": 0.89,  # 1 - selection_rate: the favourable outcome
             "ratio": 0.97,          # approval_rate / the reference group's
             "flagged": False,       # ratio under ratio_floor (the four-fifths rule)
             "judged": True, "note": None},
            ...]},
        "AGE": {...}, "EDUCATION": {...}, "MARRIAGE": {...}}
    }

A group with fewer than MIN_CLIENTS clients or no defaulter is not judged: its counts and
rates are shown, its auc and ratio are None, "judged" is False and "note" says TOO_FEW.
AGE is grouped into AGE_BANDS; "code" is then the band's lower bound (None for "<25").
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from core.vocabulary import LABELS

ATTRIBUTES = {
    "SEX": "sex",
    "AGE": "age band",
    "EDUCATION": "education",
    "MARRIAGE": "marital status",
}
# (label, lowest age in the band); each band runs to the next one's lowest age.
AGE_BANDS = (("<25", None), ("25-34", 25), ("35-44", 35), ("45-54", 45), ("55+", 55))
MIN_CLIENTS = 30
RATIO_FLOOR = 0.8
FAVOURABLE = "not flagged as default"
TOO_FEW = "too few to judge"


def age_band(ages: pd.Series) -> pd.Series:
    """Each age's band label ("<25", "25-34", ... "55+")."""
    edges = [-np.inf, *(low for _, low in AGE_BANDS[1:]), np.inf]
    labels = [label for label, _ in AGE_BANDS]
    return pd.cut(ages, bins=edges, labels=labels, right=False).astype(str)


def group_names(attribute: str, values: pd.Series) -> pd.Series:
    """The group each value falls in, as people read it: LABELS, or age bands for AGE."""
    if attribute == "AGE":
        return age_band(values)
    labels = LABELS.get(attribute, {})
    return values.map(lambda code: labels.get(int(code), f"code {int(code)}"))


def _group_order(attribute: str, values: pd.Series) -> list[tuple[str, Any]]:
    """(group name, code) in reading order: code order, or band order for AGE."""
    if attribute == "AGE":
        present = set(age_band(values))
        return [(label, low) for label, low in AGE_BANDS if label in present]
    codes = sorted(int(code) for code in pd.unique(values))
    names = group_names(attribute, pd.Series(codes))
    return list(zip(names, codes, strict=True))


def _figures(y_true: np.ndarray, probability: np.ndarray, *, threshold: float) -> dict:
    """One group's figures, with fairlearn's metrics on the labels at `threshold`."""
    from fairlearn.metrics import (
        count,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )
    from sklearn.metrics import roc_auc_score

    flagged = (probability >= threshold).astype(int)
    both = len(np.unique(y_true)) == 2
    return {
        "clients": count(y_true, flagged),
        "defaulters": int(np.sum(y_true)),
        "default_rate": float(np.mean(y_true)),
        "mean_predicted": float(np.mean(probability)),
        "auc": float(roc_auc_score(y_true, probability)) if both else float("nan"),
        "tpr": float(true_positive_rate(y_true, flagged)) if y_true.any() else float("nan"),
        "fpr": float(false_positive_rate(y_true, flagged)) if not y_true.all() else float("nan"),
        "selection_rate": float(selection_rate(y_true, flagged)),
    }


def group_metrics(
    y: np.ndarray, probability: np.ndarray, names: pd.Series, threshold: float
) -> pd.DataFrame:
    """One row per group name: clients, defaulters, default_rate, mean_predicted, auc, tpr,
    fpr, selection_rate (labels flagged at `threshold`), grouped by fairlearn's MetricFrame.

    One metric function gives all the figures: MetricFrame copies every row into each
    metric's call, so eight metrics cost eight times one (seconds on a large holdout).
    """
    from fairlearn.metrics import MetricFrame

    frame = MetricFrame(
        metrics={"figures": partial(_figures, threshold=threshold)},
        y_true=y,
        y_pred=probability,
        sensitive_features=names,
    )
    by_group = frame.by_group["figures"]
    return pd.DataFrame(list(by_group), index=by_group.index)


def attribute_report(
    attribute: str, y: np.ndarray, probability: np.ndarray, values: pd.Series, threshold: float
) -> dict:
    """One attribute's groups, their ratios to the most favoured group, and which are
    flagged (see the module docstring)."""
    names = group_names(attribute, values.reset_index(drop=True))
    table = group_metrics(y, probability, names, threshold)
    groups = []
    for name, code in _group_order(attribute, values):
        row = table.loc[name]
        clients, defaulters = int(row["clients"]), int(row["defaulters"])
        judged = clients >= MIN_CLIENTS and defaulters > 0
        groups.append(
            {
                "group": name,
                "code": code,
                "clients": clients,
                "defaulters": defaulters,
                "default_rate": _number(row["default_rate"]),
                "mean_predicted": _number(row["mean_predicted"]),
                "auc": _number(row["auc"]) if judged else None,
                "tpr": _number(row["tpr"]),
                "fpr": _number(row["fpr"]),
                "selection_rate": _number(row["selection_rate"]),
                "approval_rate": _number(1 - row["selection_rate"]),
                "ratio": None,
                "flagged": False,
                "judged": judged,
                "note": None if judged else TOO_FEW,
            }
        )
    reference = _most_favoured(groups)
    for group in groups:
        if group["judged"] and reference is not None:
            best = reference["approval_rate"]
            group["ratio"] = group["approval_rate"] / best if best else None
            group["flagged"] = group["ratio"] is not None and group["ratio"] < RATIO_FLOOR
    return {
        "name": ATTRIBUTES[attribute],
        "reference": reference["group"] if reference else None,
        "flagged": [g["group"] for g in groups if g["flagged"]],
        "groups": groups,
    }


def _most_favoured(groups: list[dict]) -> dict | None:
    judged = [g for g in groups if g["judged"]]
    return max(judged, key=lambda g: g["approval_rate"]) if judged else None


def _number(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def fairness_report(y: Any, probability: Any, groups: pd.DataFrame, threshold: float) -> dict:
    """Fairness by every attribute of ATTRIBUTES that `groups` holds (one row per client,
    in the order of `y` and `probability`); see the module docstring for the shape."""
    y = np.asarray(y).astype(int)
    probability = np.asarray(probability, dtype=float)
    return {
        "threshold": float(threshold),
        "favourable": FAVOURABLE,
        "min_clients": MIN_CLIENTS,
        "ratio_floor": RATIO_FLOOR,
        "attributes": {
            attribute: attribute_report(attribute, y, probability, groups[attribute], threshold)
            for attribute in ATTRIBUTES
            if attribute in groups
        },
    }


def flagged_groups(evaluation: dict) -> list[str]:
    """ "attribute: group" for every group flagged in a version's stored fairness report."""
    attributes = (evaluation.get("fairness") or {}).get("attributes", {})
    return [
        f"{report['name']}: {group}"
        for report in attributes.values()
        for group in report["flagged"]
    ]
