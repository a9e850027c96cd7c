"""Stored calibration and fairness for test versions registered with tests.trained.register:
the reports core computes (core.ml.calibration, core.ml.fairness) on real holdout clients
with a real model's probabilities, calibrated or deliberately inflated (as SMOTE does)."""

from __future__ import annotations

from functools import lru_cache

from core.ml.calibration import apply_calibration_map, calibration_report, fit_calibration_map
from core.ml.fairness import ATTRIBUTES, fairness_report
from core.vocabulary import FEATURES, TARGET
from tests.trained import SAMPLE_ROWS, pipelines, real_frame

HOLDOUT_ROWS = 4_000


@lru_cache(maxsize=4)
def trust_evaluation(model_id: str = "lr", calibrated: bool = True) -> dict:
    """{"calibration": ..., "fairness": ...} of `model_id` on real clients it was not
    trained on: its probabilities mapped by an isotonic calibration learnt on half of them
    and reported on the other half, or inflated towards 1 (miscalibrated)."""
    clients = real_frame().iloc[-2 * HOLDOUT_ROWS :].reset_index(drop=True)
    assert len(real_frame()) > 2 * HOLDOUT_ROWS + SAMPLE_ROWS
    probability = pipelines()[model_id].predict_proba(clients[FEATURES])[:, 1]
    y = clients[TARGET].to_numpy()
    learn, holdout = slice(0, HOLDOUT_ROWS), slice(HOLDOUT_ROWS, None)
    if calibrated:
        mapping = fit_calibration_map(probability[learn], y[learn], "isotonic")
        shown = apply_calibration_map(mapping, probability[holdout])
    else:
        shown = 0.4 + 0.6 * probability[holdout]
    groups = clients.iloc[holdout][list(ATTRIBUTES)].reset_index(drop=True)
    calibration = calibration_report(y[holdout], shown)
    expected = "calibrated" if calibrated else "miscalibrated"
    assert calibration["verdict"] == expected, calibration
    return {
        "calibration": calibration,
        "fairness": fairness_report(y[holdout], shown, groups, 0.5),
        "threshold": 0.5,
    }
