"""Plotly figures of score stability: the score's PSI over time with the verdict bands."""

from __future__ import annotations

import plotly.graph_objects as go

from core.serving.stability import ACT_ABOVE, STABLE_BELOW, Period

BANDS = (  # (from, to, colour, name): the rule-of-thumb bands behind the points
    (0.0, STABLE_BELOW, "rgba(44, 160, 44, 0.10)", "stable"),
    (STABLE_BELOW, ACT_ABOVE, "rgba(255, 127, 14, 0.12)", "watch"),
    (ACT_ABOVE, None, "rgba(214, 39, 40, 0.10)", "act"),
)
LINE = "#1f77b4"
TOO_FEW = "#9e9e9e"


def psi_over_time(series: list[Period], period: str) -> go.Figure:
    """The score's PSI per day or week as points joined by a line, over shaded bands
    (stable, watch, act); periods too small to judge sit on the axis as grey crosses."""
    judged = [p for p in series if p.value is not None]
    few = [p for p in series if p.value is None]
    top = max([ACT_ABOVE * 1.6, *(p.value * 1.1 for p in judged)])
    figure = go.Figure()
    for low, high, colour, name in BANDS:
        figure.add_hrect(
            y0=low, y1=top if high is None else high, fillcolor=colour, line_width=0,
            annotation_text=name, annotation_position="top left",
        )  # fmt: skip
    figure.add_trace(
        go.Scatter(
            x=[p.start for p in judged],
            y=[p.value for p in judged],
            mode="lines+markers",
            name="PSI",
            line={"color": LINE},
            customdata=[[p.scores, p.verdict] for p in judged],
            hovertemplate="%{x}: PSI %{y:.3f} (%{customdata[1]}), %{customdata[0]:,} scores"
            "<extra></extra>",
        )
    )
    if few:
        figure.add_trace(
            go.Scatter(
                x=[p.start for p in few],
                y=[0.0] * len(few),
                mode="markers",
                name="too few to judge",
                marker={"symbol": "x", "color": TOO_FEW, "size": 9},
                customdata=[p.scores for p in few],
                hovertemplate="%{x}: only %{customdata:,} scores<extra></extra>",
            )
        )
    figure.update_layout(
        title=f"Score PSI per {period}",
        # a date axis keeps the periods in order, with gaps where nothing was scored
        xaxis={"title": f"{period} (UTC)", "type": "date", "tickformat": "%Y-%m-%d"},
        yaxis={"title": "PSI", "range": [0, top]},
        height=320,
        margin={"l": 40, "r": 20, "t": 50, "b": 40},
        legend={"orientation": "h", "y": -0.25},
    )
    return figure
