"""The reliability curve and fairness table builders, from core's own reports on known
labels and probabilities; no Streamlit."""

import numpy as np
import pandas as pd
import pytest

from core.ml.calibration import calibration_report
from core.ml.fairness import fairness_report
from dashboard.charts import models as figures


def known_clients():
    rng = np.random.default_rng(3)
    probability = rng.uniform(0, 0.6, 600)
    y = (rng.uniform(size=600) < probability).astype(int)
    groups = pd.DataFrame(
        {
            "SEX": [1, 2] * 300,
            "EDUCATION": [1] * 290 + [2] * 290 + [4] * 20,  # 20 "others": too few to judge
            "MARRIAGE": [1] * 600,
            "AGE": rng.integers(21, 70, 600),
        }
    )
    return y, probability, groups


def test_the_reliability_curve_draws_bins_diagonal_and_counts():
    y, probability, _ = known_clients()
    calibration = calibration_report(y, probability)
    figure = figures.reliability_curve(calibration)
    bars, diagonal, points = figure.data
    assert list(bars.y) == [b["count"] for b in calibration["curve"]] and sum(bars.y) == 600
    assert bars.yaxis == "y2" and figure.layout.yaxis2.range[1] == 3 * max(bars.y)
    assert list(diagonal.x) == [0, 1] and list(diagonal.y) == [0, 1]
    filled = [b for b in calibration["curve"] if b["count"]]
    assert len(filled) < 10  # nothing above 0.6: empty bins have no point
    assert list(points.x) == pytest.approx([b["predicted"] for b in filled])
    assert list(points.y) == pytest.approx([b["observed"] for b in filled])
    assert list(points.customdata) == [b["count"] for b in filled]
    assert figure.layout.title.text == "Reliability on 600 holdout clients"


@pytest.mark.parametrize("calibration", [None, {}, {"curve": []}, {"mean_predicted": 0.3}])
def test_without_a_curve_the_chart_says_not_computed(calibration):
    figure = figures.reliability_curve(calibration)
    assert not figure.data and figure.layout.annotations[0].text == "not computed"


def test_the_fairness_table_in_words_and_percent_with_verdicts():
    y, probability, groups = known_clients()
    report = fairness_report(y, probability, groups, threshold=0.3)["attributes"]["EDUCATION"]
    table = figures.fairness_table(report)
    assert list(table.columns) == figures.FAIRNESS_COLUMNS
    assert list(table["Group"]) == ["graduate school", "university", "others"]
    graduate = report["groups"][0]
    first = table.iloc[0]
    assert first["Share flagged"] == pytest.approx(100 * graduate["selection_rate"])
    assert first["Observed default rate"] == pytest.approx(100 * graduate["default_rate"])
    assert first["Ratio to most favoured"] == pytest.approx(graduate["ratio"])
    others = table.iloc[2]
    assert others["Verdict"] == "too few to judge" and others["Clients"] == 20
    assert pd.isna(others["Ratio to most favoured"]) and pd.isna(others["AUC"])
    assert report["reference"] in set(table.loc[table["Verdict"] == "most favoured", "Group"])


def test_a_group_under_the_floor_is_flagged_in_the_table():
    y, probability, groups = known_clients()
    probability = probability + np.where(groups["SEX"] == 1, 0.4, 0.0)  # men flagged far more
    report = fairness_report(y, probability, groups, threshold=0.5)["attributes"]["SEX"]
    assert report["flagged"] == ["male"]
    table = figures.fairness_table(report).set_index("Group")
    assert table.loc["male", "Verdict"] == "⚠ under 0.8"
    assert table.loc["female", "Verdict"] == "most favoured"


@pytest.mark.parametrize(
    ("calibration", "words"),
    [
        ({}, "Not calibrated: the training job did not ask for it."),
        ({"method": None, "note": None}, "Not calibrated: the training job did not ask for it."),
        ({"method": None, "note": "a fold has one class"}, "not applied: a fold has one class"),
        (
            {"method": "isotonic", "uncalibrated": {"auc": 0.7, "ece": 0.2, "brier": 0.2,
                                                    "mean_predicted": 0.45}},
            "isotonic method on held-out folds. Before calibration: AUC 0.7000, ECE 0.200",
        ),
    ],
)  # fmt: skip
def test_how_a_version_was_calibrated_in_words(calibration, words):
    from dashboard.trust import method_text

    assert words in method_text(calibration)
