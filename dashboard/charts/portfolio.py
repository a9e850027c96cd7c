"""Plotly figures of a portfolio run: the distribution of its clients' probabilities and the
reasons owed to its declined clients."""

from __future__ import annotations

import plotly.graph_objects as go

from core.serving.reasons import GROUPS

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
        yaxis={"title": "clients", "tickformat": ","},
        bargap=0.05,
        margin={"t": 50, "b": 40},
    )
    return figure


def reasons(counted: dict, declined: int) -> go.Figure:
    """How many declined clients have each reason (a run summary's `reasons`): first reason
    and any of their reasons, as horizontal bars, most frequent first reason on top."""
    texts = {group.code: group.text for group in GROUPS}
    codes = sorted(texts, key=lambda code: (counted["first"].get(code, 0), code))
    codes = [code for code in codes if counted["any"].get(code, 0)]
    figure = go.Figure()
    for name, key, colour in (("any reason", "any", "#f4a6a6"), ("first reason", "first", DECLINE)):
        values = [counted[key].get(code, 0) for code in codes]
        figure.add_trace(
            go.Bar(
                y=[texts[code] for code in codes],
                x=values,
                orientation="h",
                name=name,
                marker_color=colour,
                text=[f"{v:,} ({v / declined:.0%})" if v else "" for v in values],
                textposition="outside",
                cliponaxis=False,
                hovertemplate="%{y}: %{x:,} declined clients<extra>" + name + "</extra>",
            )
        )
    figure.update_layout(
        title="Why clients are declined",
        barmode="group",
        xaxis={"title": "declined clients", "tickformat": ","},
        yaxis={"automargin": True},
        legend={"orientation": "h", "y": -0.25},
        margin={"t": 50, "b": 40, "r": 90},
        height=120 + 60 * max(len(codes), 1),
    )
    return figure
