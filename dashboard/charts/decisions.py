"""Plotly figure of the Decisions page: profit and loss against the threshold."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

LINES = {
    "profit": ("Profit (margin - realised loss)", "#2ca02c"),
    "margin": ("Margin on approved good clients", "#1f77b4"),
    "realised_loss": ("Realised loss (approved defaulters)", "#d62728"),
    "expected_loss": ("Expected loss (PD x LGD x EAD)", "#ff7f0e"),
}


def profit_and_loss(curve: pd.DataFrame, best: float, policy: float | None = None) -> go.Figure:
    """Profit, margin, realised and expected loss of the approved clients (NT$) against the
    threshold, the best threshold marked, and the saved policy threshold when there is one."""
    figure = go.Figure()
    for column, (name, color) in LINES.items():
        figure.add_trace(
            go.Scatter(
                x=curve["threshold"],
                y=curve[column],
                name=name,
                mode="lines",
                line={"color": color, "dash": "dot" if column == "expected_loss" else "solid"},
            )
        )
    figure.add_vline(x=best, line={"color": "#2ca02c", "width": 2}, annotation_text="best")
    if policy is not None:
        figure.add_vline(
            x=policy, line={"color": "black", "dash": "dash"}, annotation_text="policy"
        )
    figure.update_layout(
        height=420,
        xaxis_title="Threshold: clients at or above it are declined",
        yaxis_title="NT$ over the holdout",
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 40, "r": 20, "t": 30, "b": 40},
    )
    return figure
