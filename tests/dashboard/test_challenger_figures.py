"""The challenger figure without Streamlit: both reliability curves over the diagonal."""

import numpy as np

from core.ml.challenger import compare_predictions
from dashboard.charts.challenger import calibration_overlay


def test_both_reliability_curves_are_drawn_from_the_comparison():
    rng = np.random.default_rng(0)
    y = (rng.uniform(size=2_000) < 0.22).astype(int)
    new = np.clip(0.22 + 0.3 * (y - 0.22) + rng.normal(0, 0.1, 2_000), 0, 1)
    old = np.clip(new * 1.5, 0, 1)  # overconfident
    comparison = {
        "challenger": "1.1",
        "champion": "1.0",
        "holdout": compare_predictions(y, new, old, resamples=50),
    }
    figure = calibration_overlay(comparison)
    diagonal, champion, challenger = figure.data
    assert list(diagonal.x) == [0, 1] and champion.name == "champion 1.0"
    curve = [b for b in comparison["holdout"]["calibration"]["challenger"]["curve"] if b["count"]]
    assert list(challenger.x) == [b["predicted"] for b in curve]
    assert list(challenger.y) == [b["observed"] for b in curve]
    assert list(challenger.customdata) == [b["count"] for b in curve]
