"""The Train and Leaderboards figures, built from plain frames and evaluations."""

from datetime import UTC, datetime

import pandas as pd
import plotly.graph_objects as go
import pytest

from core.ml.leaderboard import BOARD_COLUMNS, HISTORY_COLUMNS
from dashboard.charts import models as figures


def board() -> pd.DataFrame:
    rows = [
        ("1.0", "Logistic Regression", "lr", 0.80, 0.70, 0.12, True),
        ("1.0", "Naive Bayes", "nb", 0.40, 0.68, 0.01, False),
        ("1.1", "Gradient Boosting Classifier", "gbc", 0.82, 0.78, 2.60, True),
        ("1.1", "Ridge Classifier", "ridge", 0.80, None, 0.02, False),
    ]
    frame = pd.DataFrame(
        [
            {"Version": v, "Model": name, "Model ID": mid, "Accuracy": acc, "AUC": auc,
             "Recall": 0.3, "Prec.": 0.6, "F1": 0.4, "Kappa": 0.3, "MCC": 0.35,
             "Brier": 0.15, "Log Loss": 0.46, "TT (Sec)": tt, "Kept": kept}
            for v, name, mid, acc, auc, tt, kept in rows
        ]
    )  # fmt: skip
    return frame[BOARD_COLUMNS]


EVALUATION = {
    "roc": {"fpr": [0.0, 0.2, 1.0], "tpr": [0.0, 0.6, 1.0], "auc": 0.75},
    "pr": {"recall": [0.0, 0.5, 1.0], "precision": [1.0, 0.6, 0.22]},
    "confusion": {"tn": 70, "fp": 8, "fn": 12, "tp": 10},
    "importance": {"PAY_1": 0.4, "LIMIT_BAL": -0.1, "AGE": 0.05},
    "importance_kind": "permutation (drop in AUC)",
    "holdout_rows": 100,
    "threshold": 0.5,
}


def test_models_on_a_metric_one_trace_per_version_best_on_top_kept_marked():
    figure = figures.models_on_metric(board(), "AUC")
    assert [t.name for t in figure.data] == ["version 1.0", "version 1.1"]
    first, second = figure.data
    assert list(first.y) == ["Naive Bayes", "Logistic Regression"]  # ascending: best on top
    assert list(second.y) == ["Gradient Boosting Classifier"]  # no AUC, no bar
    assert first.text[1].endswith("★") and not first.text[0].endswith("★")
    assert figure.layout.title.text == "Models by AUC"


def test_the_metric_axis_starts_near_the_lowest_bar_and_says_so():
    figure = figures.models_on_metric(board(), "AUC")  # AUCs 0.68 to 0.78
    low, high = figure.layout.xaxis.range
    assert 0.5 < low < 0.68 and high > 0.78
    assert figure.layout.xaxis.title.text == f"AUC (axis from {low:.2f}, to show the differences)"
    assert list(figure.data[0].text) == ["0.680", "0.700 ★"]
    assert figure.data[0].textposition == "outside"


@pytest.mark.parametrize(
    ("values", "start"), [([0.68, 0.78], 0.6), ([0.9, 0.9], 0.85), ([0.01, 0.5], 0.0)]
)
def test_zoomed_range_starts_on_a_round_value_below_the_lowest(values, start):
    low, high = figures.zoomed_range(pd.Series(values))
    assert low == pytest.approx(start) and high > max(values)


def test_on_brier_the_lowest_is_best_and_on_top():
    frame = board().assign(Brier=[0.20, 0.14, 0.18, None])
    figure = figures.models_on_metric(frame, "Brier")
    first = figure.data[0]
    assert list(first.y) == ["Logistic Regression", "Naive Bayes"]  # lowest drawn last: on top
    assert list(figure.layout.yaxis.categoryarray) == [
        "Logistic Regression",
        "Gradient Boosting Classifier",
        "Naive Bayes",
    ]


def test_heatmap_colours_lower_is_better_metrics_so_darker_is_better():
    frame = board().assign(Brier=[0.20, 0.14, 0.18, None], **{"Log Loss": [1.4, 0.4, 0.5, None]})
    [heatmap] = figures.metrics_heatmap(frame, rank_by="Brier").data
    assert list(heatmap.y) == [
        "1.0 · Naive Bayes",  # Brier 0.14 before 0.20: best first
        "1.0 · Logistic Regression",
        "1.1 · Gradient Boosting Classifier",
    ]
    brier, log_loss = figures.METRICS.index("Brier"), figures.METRICS.index("Log Loss")
    assert heatmap.z[0][brier] == pytest.approx(0.86) and heatmap.text[0][brier] == 0.14
    assert heatmap.z[1][log_loss] == 0 and heatmap.text[1][log_loss] == 1.4


def test_metrics_heatmap_has_a_row_per_version_and_model():
    figure = figures.metrics_heatmap(board())
    [heatmap] = figure.data
    assert list(heatmap.x) == figures.METRICS
    assert list(heatmap.y) == [
        "1.0 · Logistic Regression",
        "1.0 · Naive Bayes",
        "1.1 · Gradient Boosting Classifier",
    ]
    assert heatmap.z[2][0] == pytest.approx(0.78)


def test_auc_against_time_uses_a_log_time_axis():
    figure = figures.auc_against_time(board())
    assert figure.layout.xaxis.type == "log"
    assert [list(t.text) for t in figure.data] == [["lr", "nb"], ["gbc"]]


def test_best_over_time_marks_the_champion():
    history = pd.DataFrame(
        [
            ["1.0", datetime(2026, 1, 1, tzinfo=UTC), "LR", "AUC", 0.70, 0.70, False],
            ["1.1", datetime(2026, 1, 2, tzinfo=UTC), "GBC", "AUC", 0.78, 0.78, True],
        ],
        columns=HISTORY_COLUMNS,
    )
    figure = figures.best_over_time(history)
    assert list(figure.data[0].x) == ["1.0", "1.1"] and figure.layout.xaxis.type == "category"
    assert list(figure.data[0].text) == ["0.700", "0.780"]
    assert figure.data[0].customdata[0][1] == "1 Jan 2026, 00:00 UTC"
    assert figure.data[1].name == "champion" and list(figure.data[1].y) == [0.78]
    # the axis is around the AUCs, not 0 to 1.5
    assert tuple(figure.layout.yaxis.range) == pytest.approx((0.65, 0.83))


def test_evaluation_charts():
    roc = figures.roc_curve(EVALUATION)
    assert roc.data[1].name == "AUC 0.7500" and "100 holdout clients" in roc.layout.title.text
    pr = figures.pr_curve(EVALUATION)
    assert list(pr.data[0].x) == [0.0, 0.5, 1.0]
    # the baseline is a legend entry, not a label written over the curve
    baseline = pr.data[1]
    assert list(baseline.y) == pytest.approx([0.22, 0.22])  # 22 of 100 holdout clients
    assert baseline.name == "chance: defaulters' share, 22%"
    assert not pr.layout.annotations and not pr.layout.shapes
    assert pr.layout.legend.orientation == "h" and pr.layout.legend.y < 0
    confusion = figures.confusion_matrix(EVALUATION)
    assert [list(r) for r in confusion.data[0].z] == [[70, 8], [12, 10]]
    importance = figures.feature_importance(EVALUATION, top=2)
    assert list(importance.data[0].y) == ["LIMIT_BAL", "PAY_1"]  # largest magnitude on top
    assert "permutation" in importance.layout.title.text


@pytest.mark.parametrize(
    "build",
    [
        lambda: figures.models_on_metric(pd.DataFrame(columns=BOARD_COLUMNS)),
        lambda: figures.metrics_heatmap(pd.DataFrame(columns=BOARD_COLUMNS)),
        lambda: figures.auc_against_time(pd.DataFrame(columns=BOARD_COLUMNS)),
        lambda: figures.best_over_time(pd.DataFrame(columns=HISTORY_COLUMNS)),
        lambda: figures.roc_curve({}),
        lambda: figures.pr_curve({}),
        lambda: figures.confusion_matrix({}),
        lambda: figures.feature_importance({}),
    ],
)
def test_empty_input_gives_a_chart_that_says_so(build):
    figure = build()
    assert isinstance(figure, go.Figure) and not figure.data
    assert figure.layout.annotations[0].text in (
        figures.NOTHING,
        "no model versions yet",
        "no evaluation stored",
    )


def test_the_figures_need_only_the_parts_the_page_reads():
    stored = {**EVALUATION, "threshold": 0.4, "probabilities": [0.1] * 9, "train_sample": {}}
    parts = {key: stored[key] for key in figures.EVALUATION_PARTS if key in stored}
    assert set(stored) - set(parts) == {"probabilities", "train_sample"}
    for build in (
        figures.roc_curve,
        figures.pr_curve,
        figures.confusion_matrix,
        figures.feature_importance,
    ):
        assert build(parts).to_dict() == build(stored).to_dict()


def test_the_board_table_never_leaves_a_gap_streamlit_would_call_none():
    frame = board().assign(MCC=None)  # no model has an MCC; the ridge has no AUC
    table = figures.board_table(frame)
    assert "MCC" not in table and "Model ID" not in table
    assert table["AUC"].tolist() == ["0.7000", "0.6800", "0.7800", "—"]
    assert table["Kept"].tolist() == ["★", "", "★", ""]
    assert not table.isna().any().any()
    assert figures.board_table(board().dropna())["Accuracy"].dtype == float  # complete: numbers


def test_the_legend_of_models_sits_below_the_axis_title():
    legend = figures.models_on_metric(board(), "AUC").layout.legend
    assert (legend.yref, legend.y, legend.yanchor) == ("container", 0, "bottom")
