"""The Score page's figure builders and form shapes, without Streamlit."""

import numpy as np
import pandas as pd
import pytest

from core.vocabulary import FEATURES, ID
from dashboard.charts.scoring import (
    DOWN,
    UP,
    compare_distributions,
    explanation_bars,
    gauge,
    probability_histogram,
    signed_points,
)
from dashboard.score_form import form_features, months_table
from dashboard.scored_table import results_columns, results_table

CLIENT = dict(zip(FEATURES, range(1, 24), strict=True))


def test_gauge_shows_percent_and_marks_the_threshold():
    figure = gauge(0.734, 0.6)
    indicator = figure.data[0]
    assert indicator.value == 73.4 and indicator.number.suffix == "%"
    assert indicator.gauge.threshold.value == 60 and indicator.gauge.bar.color == UP
    assert gauge(0.2, 0.6).data[0].gauge.bar.color == DOWN


def test_explanation_bars_put_the_largest_effect_on_top_in_plain_words():
    effects = pd.DataFrame(
        {
            "feature": ["PAY_1", "LIMIT_BAL", "SEX"],
            "value": [2, 50000, 2],
            "effect": [0.21, -0.05, 0.01],
        }
    )
    bars = explanation_bars(effects, top=2).data[0]
    assert list(bars.y) == ["Credit limit: 50,000", "Status Sep 2005: 2 months late"]
    assert list(bars.x) == [-5.0, 21.0]
    assert list(bars.marker.color) == [DOWN, UP]
    assert list(bars.text) == ["−5.0 pts", "+21.0 pts"]


def test_explanation_labels_show_in_full_with_a_real_minus():
    """Labels sit outside the bars, unclipped, inside an x range with room beyond the
    longest bar on each side: "+5.8 pts" was drawn as "+5." and "-2.1" lost its sign."""
    effects = pd.DataFrame(
        {"feature": ["PAY_1", "BILL_AMT1", "PAY_AMT2"], "value": [2, 23666, 1500],
         "effect": [0.058, -0.021, -0.0002]}
    )  # fmt: skip
    figure = explanation_bars(effects)
    bars = figure.data[0]
    assert list(bars.text) == ["−0.02 pts", "−2.1 pts", "+5.8 pts"]
    assert bars.textposition == "outside" and bars.cliponaxis is False
    left, right = figure.layout.xaxis.range
    span = 5.8 + 2.1
    assert left <= -2.1 - 0.3 * span and right >= 5.8 + 0.3 * span
    only_up = explanation_bars(effects.assign(effect=[0.058, 0.01, 0.0])).layout.xaxis.range
    assert only_up[0] < 0 < 5.8 < only_up[1]


def test_points_carry_their_sign():
    assert [signed_points(p) for p in (5.8, -2.1, -0.02, 0.0, -0.001)] == [
        "+5.8 pts", "−2.1 pts", "−0.02 pts", "0.0 pts", "0.00 pts",
    ]  # fmt: skip


def test_probability_histogram_spans_zero_to_one_with_the_threshold():
    figure = probability_histogram(np.array([0.1, 0.5, 0.9]), 0.35)
    assert figure.layout.xaxis.range == (0, 1)
    assert figure.layout.shapes[0].x0 == 0.35


def test_distributions_compare_recent_with_training_as_shares():
    figure = compare_distributions([1, 2], [1, 2, 3], "Age", unit_range=[0, 1])
    assert [trace.name for trace in figure.data] == ["Training (3)", "Recent scores (2)"]
    assert {trace.histnorm for trace in figure.data} == {"percent"}


def test_the_months_table_round_trips_to_features():
    table = months_table(CLIENT)
    assert table["Month"].tolist()[0] == "Sep 2005" and len(table) == 6
    assert table.iloc[0].tolist() == [
        "Sep 2005",
        CLIENT["PAY_1"],
        CLIENT["BILL_AMT1"],
        CLIENT["PAY_AMT1"],
    ]
    client = {name: CLIENT[name] for name in ["SEX", "EDUCATION", "MARRIAGE", "AGE", "LIMIT_BAL"]}
    assert form_features(client, table) == CLIENT


def test_blank_cells_become_missing_values():
    table = months_table(CLIENT).astype({"Bill": float})
    table.loc[2, "Bill"] = np.nan
    features = form_features({}, table)
    assert features["BILL_AMT3"] is None and features["SEX"] is None
    assert isinstance(features["BILL_AMT1"], float | int)


def test_scored_results_put_the_key_columns_first_in_words():
    results = pd.DataFrame({ID: [7, 8], **{name: [1, 2] for name in FEATURES}})
    results = results.assign(
        PAY_1=[2, -1], probability=[0.4567, 0.05], label=[1, 0],
        reason_1=["late in Sep 2005 (+4.2 pts)", None], reason_2=["", None],
    )  # fmt: skip
    table = results_table(results, [12345.6, 0.0])
    assert list(table.columns[:6]) == [
        "Client", "Probability of default", "Decision", "Expected loss (NT$)", "Main reason",
        "Reason 2",
    ]  # fmt: skip
    assert table.iloc[0, :5].tolist() == [7, pytest.approx(45.67), "Decline", 12345.6,
                                          "late in Sep 2005 (+4.2 pts)"]  # fmt: skip
    assert table.iloc[1, 2:6].tolist() == ["Approve", 0.0, "—", "—"]
    assert table["Status Sep 2005"].tolist() == ["2 months late", "paid duly"]
    assert table["Sex"].tolist() == ["male", "female"] and "Defaulted (in the file)" not in table
    assert "Defaulted (in the file)" in results_table(results.assign(default=[1, 0]), [0, 0])
    config = results_columns(0.5)
    assert config["Probability of default"]["type_config"]["format"] == "%.1f%%"
    assert config["Bill Sep 2005"]["type_config"]["format"] == "NT$ %,d"
