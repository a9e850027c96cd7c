"""Plotly figures of a challenger against the champion (core.ml.challenger's comparison
as a dict): plain functions, no Streamlit."""

from __future__ import annotations

import plotly.graph_objects as go

COLOURS = {"challenger": "#F58518", "champion": "#4C78A8"}


def calibration_overlay(comparison: dict) -> go.Figure:
    """Both versions' reliability curves on the same holdout clients, over the diagonal of
    perfect calibration; a point's size follows its bin's clients."""
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            name="perfectly calibrated",
            line={"dash": "dash", "color": "#999"},
        )
    )
    for side in ("champion", "challenger"):
        curve = [b for b in comparison["holdout"]["calibration"][side]["curve"] if b["count"]]
        version = comparison[side]
        figure.add_trace(
            go.Scatter(
                x=[b["predicted"] for b in curve],
                y=[b["observed"] for b in curve],
                mode="lines+markers",
                name=f"{side} {version}",
                line={"color": COLOURS[side]},
                marker={
                    "size": [6 + 10 * (b["count"] / max(c["count"] for c in curve)) for b in curve]
                },
                customdata=[b["count"] for b in curve],
                hovertemplate="predicted %{x:.3f}<br>observed %{y:.3f}<br>%{customdata:,} clients",
            )
        )
    figure.update_layout(
        title="Calibration on the same holdout clients",
        xaxis={"title": "mean predicted probability", "range": [0, 1]},
        yaxis={"title": "observed default rate", "range": [0, 1]},
        height=380,
    )
    return figure
