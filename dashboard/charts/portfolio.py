"""Plotly figure of a portfolio run: the distribution of its clients' probabilities."""

from __future__ import annotations

import plotly.graph_objects as go

APPROVE = "#1f77b4"
DECLINE = "#d62728"


def distribution(histogram: dict, threshold: float) -> go.Figure:
    """Clients per probability bin (a run summary's `histogram`: edges and counts), bins at
    or above `threshold` in the decline colour, the threshold marked."""
    edges, counts = histogram["edges"], histogram["counts"]
    middles = [(low + high) / 2 for low, high in zip(edges, edges[1:], strict=False)]
    colours = [DECLINE if low >= threshold else APPROVE for low in edges[:-1]]
    figure = go.Figure(
        go.Bar(
            x=middles,
            y=counts,
            width=[high - low for low, high in zip(edges, edges[1:], strict=False)],
            marker_color=colours,
            hovertemplate="%{x:.0%} ± 2.5%: %{y:,} clients<extra></extra>",
        )
    )
    figure.add_vline(x=threshold, line_dash="dash", annotation_text=f"threshold {threshold:.0%}")
    figure.update_layout(
        title="Probability of default across the portfolio",
        xaxis={"title": "probability of default", "tickformat": ".0%", "range": [0, 1]},
        yaxis={"title": "clients"},
        bargap=0.05,
        margin={"t": 50, "b": 40},
    )
    return figure
