"""Plotly figures of the Train and Leaderboards pages: plain functions, no Streamlit.

Boards are core.leaderboard frames (Version, Model, Model ID, the metrics, TT (Sec),
Kept); evaluations are a model version's `evaluation` JSON. Empty input gives an empty
chart that says so instead of an error.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.vocabulary import METRICS, best_first

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
                    f"{value:.4f}" + (" ★" if k else "")
                    for value, k in zip(group[metric], kept, strict=True)
                ],
                textposition="auto",
                hovertemplate=f"%{{y}}<br>{metric} %{{x:.4f}}<extra>version {version}</extra>",
            )
        )
    higher = best_first(metric)
    best = rows.groupby("Model")[metric].max() if higher else rows.groupby("Model")[metric].min()
    # the first category is drawn at the bottom: the best goes last
    order = best.sort_values(ascending=higher).index.tolist()
    figure.update_layout(
        title=title,
        barmode="group",
        xaxis_title=metric,
        yaxis={"categoryorder": "array", "categoryarray": order},
        height=max(300, 28 * len(rows) + 120),
        legend_title="★ kept for scoring",
    )
    return figure


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
            text=values.round(3).to_numpy(),
            customdata=values.to_numpy(),
            texttemplate="%{text}",
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
    """The AUC of each version's stored model, in the order versions were made."""
    title = "Best AUC per version over time"
    rows = history.dropna(subset=["AUC"]) if "AUC" in history else history.iloc[0:0]
    if rows.empty:
        return _empty(title, "no model versions yet")
    figure = go.Figure(
        go.Scatter(
            x=rows["Created"],
            y=rows["AUC"],
            mode="lines+markers+text",
            text=rows["Version"],
            textposition="top center",
            customdata=rows["Model"],
            hovertemplate="version %{text}: %{customdata}<br>AUC %{y:.4f}<br>%{x}<extra></extra>",
            name="versions",
        )
    )
    champions = rows[rows["Champion"].astype(bool)]
    if not champions.empty:
        figure.add_trace(
            go.Scatter(
                x=champions["Created"],
                y=champions["AUC"],
                mode="markers",
                marker={"symbol": "star", "size": 18, "color": "#F2CF5B"},
                name="champion",
                hoverinfo="skip",
            )
        )
    figure.update_layout(title=title, xaxis_title="created", yaxis_title="AUC", height=380)
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
        figure.add_hline(y=share, line_dash="dot", annotation_text=f"defaulters {share:.0%}")
    figure.update_layout(
        title="Precision-recall curve", xaxis_title="recall", yaxis_title="precision", height=400
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
