"""Plotly figures of the Train and Leaderboards pages: plain functions, no Streamlit.

Boards are core.leaderboard frames (Version, Model, Model ID, the metrics, TT (Sec),
Kept); evaluations are a model version's `evaluation` JSON. Empty input gives an empty
chart that says so instead of an error.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from core.vocabulary import METRICS, best_first
from dashboard import formats

PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6"]
KEPT_COLOUR = "#E45756"
NOTHING = "no models to show yet"
# The keys of an evaluation that the figures below draw from; the rest stays unread.
EVALUATION_PARTS = (
    "roc", "pr", "confusion", "threshold", "holdout_rows", "importance", "importance_kind",
)  # fmt: skip


def _empty(title: str, text: str = NOTHING) -> go.Figure:
    figure = go.Figure()
    figure.update_layout(
        title=title,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[{"text": text, "showarrow": False, "font": {"size": 14}}],
        height=300,
    )
    return figure


def _colours(versions) -> dict[str, str]:
    return {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(dict.fromkeys(versions))}


def models_on_metric(board: pd.DataFrame, metric: str = "AUC") -> go.Figure:
    """One horizontal bar per model and version, best on top (highest, or lowest for
    Brier and Log Loss); the kept model is marked."""
    title = f"Models by {metric}"
    rows = board.dropna(subset=[metric]) if metric in board else board.iloc[0:0]
    if rows.empty:
        return _empty(title)
    colours = _colours(rows["Version"])
    figure = go.Figure()
    for version, group in rows.groupby("Version", sort=False):
        group = group.sort_values(metric, ascending=best_first(metric))
        kept = group["Kept"].fillna(False).astype(bool).tolist()
        figure.add_trace(
            go.Bar(
                x=group[metric],
                y=group["Model"],
                orientation="h",
                name=f"version {version}",
                marker={
                    "color": colours[version],
                    "line": {
                        "color": [KEPT_COLOUR if k else colours[version] for k in kept],
                        "width": [3 if k else 0 for k in kept],
                    },
                },
                text=[
                    f"{value:.3f}" + (" ★" if k else "")
                    for value, k in zip(group[metric], kept, strict=True)
                ],
                textposition="outside",
                cliponaxis=False,
                hovertemplate=f"%{{y}}<br>{metric} %{{x:.4f}}<extra>version {version}</extra>",
            )
        )
    higher = best_first(metric)
    best = rows.groupby("Model")[metric].max() if higher else rows.groupby("Model")[metric].min()
    # the first category is drawn at the bottom: the best goes last
    order = best.sort_values(ascending=higher).index.tolist()
    low, high = zoomed_range(rows[metric])
    figure.update_layout(
        title=title,
        barmode="group",
        xaxis={
            "title": f"{metric} (axis from {low:.2f}, to show the differences)",
            "range": [low, high],
        },
        yaxis={"categoryorder": "array", "categoryarray": order},
        height=max(320, 34 * len(rows) + 180),
        # the legend at the foot of the figure, under the axis title rather than over it
        legend={
            "title": "★ kept for scoring",
            "orientation": "h",
            "yref": "container",
            "y": 0,
            "yanchor": "bottom",
        },
        margin={"b": 100},
    )
    return figure


def zoomed_range(values: pd.Series) -> tuple[float, float]:
    """An axis range that starts near the smallest value rather than at 0, so bars of 0.62
    and 0.71 differ visibly, with room right of the largest for its label."""
    low, high = float(values.min()), float(values.max())
    spread = max(high - low, 0.02)
    start = max(0.0, math.floor((low - spread * 0.5) * 20) / 20)  # a multiple of 0.05
    return start, high + (high - start) * 0.25


def board_table(board: pd.DataFrame) -> pd.DataFrame:
    """A leaderboard as its table shows it: ★ for the kept model, no Model ID; a metric no
    model has is left out, and one some models lack is written as text with "—" for them
    (Streamlit would draw the gap as "None")."""
    table = board.drop(columns=["Model ID"]).assign(Kept=board["Kept"].map({True: "★", False: ""}))
    for column in [*METRICS, "TT (Sec)"]:
        if column not in table or not table[column].isna().any():
            continue
        if table[column].isna().all():
            table = table.drop(columns=[column])
        else:
            digits = 3 if column == "TT (Sec)" else 4
            table[column] = [formats.number(v, digits) for v in table[column]]
    return table


def metrics_heatmap(
    board: pd.DataFrame, metrics: list[str] = METRICS, rank_by: str = "AUC"
) -> go.Figure:
    """Several metrics per model at a glance: one row per version and model, best on
    `rank_by` first within a version. Darker is better in every column: Brier and Log Loss
    (lower is better) are coloured by 1 - value; the cells show the values themselves."""
    title = "Metrics per model (darker is better)"
    rank_by = rank_by if rank_by in board else "AUC"
    rows = board.dropna(subset=[rank_by]) if rank_by in board else board.iloc[0:0]
    if rows.empty:
        return _empty(title)
    rows = rows.sort_values(["Version", rank_by], ascending=[True, not best_first(rank_by)])
    labels = [f"{v} · {m}" for v, m in zip(rows["Version"], rows["Model"], strict=True)]
    values = rows[metrics].astype(float)
    goodness = values.copy()
    for metric in metrics:
        if not best_first(metric):
            goodness[metric] = (1 - values[metric]).clip(lower=0)
    figure = go.Figure(
        go.Heatmap(
            z=goodness.to_numpy(),
            x=metrics,
            y=labels,
            colorscale="Blues",
            zmin=0,
            zmax=1,
            text=values.to_numpy(),
            customdata=values.to_numpy(),
            texttemplate="%{text:.3f}",
            hovertemplate="%{y}<br>%{x} %{customdata:.4f}<extra></extra>",
            colorbar={"title": "better"},
        )
    )
    figure.update_layout(
        title=title,
        yaxis={"autorange": "reversed"},
        height=max(300, 26 * len(rows) + 120),
    )
    return figure


def auc_against_time(board: pd.DataFrame) -> go.Figure:
    """AUC against training time per fold: the models worth their time are up and left."""
    title = "AUC against training time"
    rows = board.dropna(subset=["AUC", "TT (Sec)"]) if "AUC" in board else board.iloc[0:0]
    if rows.empty:
        return _empty(title)
    colours = _colours(rows["Version"])
    figure = go.Figure()
    for version, group in rows.groupby("Version", sort=False):
        figure.add_trace(
            go.Scatter(
                x=group["TT (Sec)"].clip(lower=0.001),
                y=group["AUC"],
                mode="markers+text",
                name=f"version {version}",
                text=group["Model ID"],
                textposition="top center",
                marker={"size": 11, "color": colours[version]},
                customdata=group["Model"],
                hovertemplate="%{customdata}<br>AUC %{y:.4f}<br>%{x:.2f} s per fold<extra></extra>",
            )
        )
    figure.update_layout(
        title=title,
        xaxis={"title": "training time per fold (s, log scale)", "type": "log"},
        yaxis_title="AUC",
        height=420,
    )
    return figure


def best_over_time(history: pd.DataFrame) -> go.Figure:
    """The AUC of each version's stored model, one point per version in the order they were
    made (the date in the hover), on an axis around the AUCs; the champion starred."""
    title = "AUC of each version's kept model"
    rows = history.dropna(subset=["AUC"]) if "AUC" in history else history.iloc[0:0]
    if rows.empty:
        return _empty(title, "no model versions yet")
    created = [formats.timestamp(moment) for moment in rows["Created"]]
    figure = go.Figure(
        go.Scatter(
            x=rows["Version"],
            y=rows["AUC"],
            mode="lines+markers+text",
            text=[f"{auc:.3f}" for auc in rows["AUC"]],
            textposition="top center",
            customdata=list(zip(rows["Model"], created, strict=True)),
            hovertemplate="version %{x}: %{customdata[0]}<br>AUC %{y:.4f}<br>"
            "%{customdata[1]}<extra></extra>",
            name="versions",
            cliponaxis=False,
        )
    )
    champions = rows[rows["Champion"].astype(bool)]
    if not champions.empty:
        figure.add_trace(
            go.Scatter(
                x=champions["Version"],
                y=champions["AUC"],
                mode="markers",
                marker={"symbol": "star", "size": 18, "color": "#F2CF5B"},
                name="champion",
                hoverinfo="skip",
            )
        )
    low, high = float(rows["AUC"].min()), float(rows["AUC"].max())
    figure.update_layout(
        title=title,
        xaxis={"title": "version (oldest first)", "type": "category"},
        yaxis={"title": "AUC", "range": [max(0.0, low - 0.05), min(1.0, high + 0.05)]},
        legend={"orientation": "h", "y": -0.3},
        height=380,
    )
    return figure


def roc_curve(evaluation: dict) -> go.Figure:
    """ROC curve on the holdout, with the diagonal of a coin toss."""
    roc = (evaluation or {}).get("roc") or {}
    if not roc.get("fpr"):
        return _empty("ROC curve", "no evaluation stored")
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot"})
    )
    figure.add_trace(
        go.Scatter(x=roc["fpr"], y=roc["tpr"], mode="lines", name=f"AUC {roc.get('auc', 0):.4f}")
    )
    figure.update_layout(
        title=f"ROC curve on {evaluation.get('holdout_rows', 0):,} holdout clients",
        xaxis_title="false positive rate",
        yaxis_title="true positive rate",
        height=400,
    )
    return figure


def pr_curve(evaluation: dict) -> go.Figure:
    """Precision against recall on the holdout, with the share of defaulters as baseline."""
    pr = (evaluation or {}).get("pr") or {}
    if not pr.get("recall"):
        return _empty("Precision-recall curve", "no evaluation stored")
    figure = go.Figure(go.Scatter(x=pr["recall"], y=pr["precision"], mode="lines", name="model"))
    confusion = evaluation.get("confusion") or {}
    total = sum(confusion.values())
    if total:
        share = (confusion.get("tp", 0) + confusion.get("fn", 0)) / total
        figure.add_trace(
            go.Scatter(
                x=[0, 1],
                y=[share, share],
                mode="lines",
                line={"dash": "dot", "color": "#888888"},
                name=f"chance: defaulters' share, {share:.0%}",
                hoverinfo="skip",
            )
        )
    figure.update_layout(
        title="Precision-recall curve",
        xaxis={"title": "recall", "range": [0, 1]},
        yaxis={"title": "precision", "range": [0, 1.05]},
        legend={"orientation": "h", "y": -0.25},
        height=400,
    )
    return figure


def confusion_matrix(evaluation: dict) -> go.Figure:
    """Counts of holdout clients by actual and predicted class at the 0.5 threshold."""
    counts = (evaluation or {}).get("confusion")
    if not counts:
        return _empty("Confusion matrix", "no evaluation stored")
    z = [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]]
    figure = go.Figure(
        go.Heatmap(
            z=z,
            x=["predicted: no default", "predicted: default"],
            y=["actual: no default", "actual: default"],
            colorscale="Blues",
            text=z,
            texttemplate="%{text:,}",
            showscale=False,
            hovertemplate="%{y}<br>%{x}<br>%{z:,} clients<extra></extra>",
        )
    )
    threshold = evaluation.get("threshold", 0.5)
    figure.update_layout(
        title=f"Confusion matrix at threshold {threshold}",
        yaxis={"autorange": "reversed"},
        height=360,
    )
    return figure


def feature_importance(evaluation: dict, top: int = 15) -> go.Figure:
    """The `top` most important features, largest on top."""
    importance = (evaluation or {}).get("importance") or {}
    if not importance:
        return _empty("Feature importance", "no evaluation stored")
    ranked = sorted(importance.items(), key=lambda item: abs(item[1]), reverse=True)[:top]
    ranked.reverse()
    kind = evaluation.get("importance_kind") or "importance"
    figure = go.Figure(
        go.Bar(
            x=[value for _, value in ranked],
            y=[name for name, _ in ranked],
            orientation="h",
            marker_color=PALETTE[0],
            hovertemplate="%{y}: %{x:.4g}<extra></extra>",
        )
    )
    figure.update_layout(
        title=f"Feature importance ({kind})",
        xaxis_title=kind,
        height=max(300, 24 * len(ranked) + 120),
    )
    return figure


def reliability_curve(calibration: dict | None) -> go.Figure:
    """Predicted against observed default rate per bin of a version's holdout clients, the
    diagonal of perfect calibration, and the clients per bin as bars (right axis)."""
    curve = (calibration or {}).get("curve") or []
    filled = [b for b in curve if b.get("count")]
    if not filled:
        return _empty("Reliability curve", "not computed")
    figure = go.Figure()
    figure.add_trace(
        go.Bar(
            x=[(b["low"] + b["high"]) / 2 for b in curve],
            y=[b["count"] for b in curve],
            width=[(b["high"] - b["low"]) * 0.9 for b in curve],
            name="clients per bin",
            yaxis="y2",
            marker={"color": "#D3DCE6", "opacity": 0.6},
            customdata=[[b["low"], b["high"]] for b in curve],
            hovertemplate="%{customdata[0]:.0%}-%{customdata[1]:.0%}: %{y:,} clients"
            "<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfectly calibrated",
            line={"dash": "dot", "color": "#888888"},
            hoverinfo="skip",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=[b["predicted"] for b in filled],
            y=[b["observed"] for b in filled],
            mode="lines+markers",
            name="this version",
            marker={"size": 9, "color": PALETTE[0]},
            customdata=[b["count"] for b in filled],
            hovertemplate="predicted %{x:.1%}<br>observed %{y:.1%}<br>%{customdata:,} clients"
            "<extra></extra>",
        )
    )
    rows = calibration.get("rows") or sum(b["count"] for b in curve)
    figure.update_layout(
        title=f"Reliability on {rows:,} holdout clients",
        xaxis={"title": "mean predicted probability", "range": [0, 1], "tickformat": ".0%"},
        yaxis={"title": "observed default rate", "range": [0, 1], "tickformat": ".0%"},
        # the bars fill the lower third, under the points and the diagonal
        yaxis2={
            "title": "clients",
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "range": [0, 3 * max(b["count"] for b in curve)],
        },
        legend={"orientation": "h", "y": -0.2},
        height=420,
    )
    return figure


FAIRNESS_COLUMNS = [
    "Group", "Clients", "Defaulters", "Observed default rate", "Mean predicted", "AUC",
    "TPR", "FPR", "Share flagged", "Ratio to most favoured", "Verdict",
]  # fmt: skip
PERCENT_COLUMNS = ["Observed default rate", "Mean predicted", "TPR", "FPR", "Share flagged"]
UNDER_FLOOR = "⚠ under {floor:g}"
REFERENCE = "most favoured"


def fairness_table(attribute: dict, ratio_floor: float = 0.8) -> pd.DataFrame:
    """One attribute's groups (core.ml.fairness's attribute report) as a table: rates in
    percent (0-100), the ratio to the most favoured group, and a verdict: under the floor,
    the most favoured group, or too few to judge (then no ratio and no AUC)."""
    rows = []
    for group in attribute.get("groups", []):
        if not group["judged"]:
            verdict = group.get("note") or "too few to judge"
        elif group["flagged"]:
            verdict = UNDER_FLOOR.format(floor=ratio_floor)
        elif group["group"] == attribute.get("reference"):
            verdict = REFERENCE
        else:
            verdict = ""
        rows.append(
            {
                "Group": group["group"],
                "Clients": group["clients"],
                "Defaulters": group["defaulters"],
                "Observed default rate": _percent(group["default_rate"]),
                "Mean predicted": _percent(group["mean_predicted"]),
                "AUC": group["auc"],
                "TPR": _percent(group["tpr"]),
                "FPR": _percent(group["fpr"]),
                "Share flagged": _percent(group["selection_rate"]),
                "Ratio to most favoured": group["ratio"] if group["judged"] else None,
                "Verdict": verdict,
            }
        )
    return pd.DataFrame(rows, columns=FAIRNESS_COLUMNS)


def _percent(value: float | None) -> float | None:
    return None if value is None else 100 * value
