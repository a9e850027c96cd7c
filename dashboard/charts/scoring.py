"""Plotly figures of the Score page: gauge, explanation, score distributions, drift."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from core.serving.schemas import TITLES, describe_value
from core.serving.scoring import labels

UP = "#d62728"  # pushes towards default
DOWN = "#1f77b4"  # pushes away from default
RECENT = "#ff7f0e"
REFERENCE = "#636efa"


def gauge(probability: float, threshold: float) -> go.Figure:
    """Probability of default as a gauge in percent, the threshold marked on it."""
    figure = go.Figure(
        go.Indicator(
            mode="gauge+number",
            value=round(probability * 100, 1),
            number={"suffix": "%"},
            title={"text": "Probability of default"},
            gauge={
                "axis": {"range": [0, 100], "ticksuffix": "%"},
                "bar": {"color": UP if labels(probability, threshold) else DOWN},
                "steps": [
                    {"range": [0, threshold * 100], "color": "#e8f1fa"},
                    {"range": [threshold * 100, 100], "color": "#fbe9e9"},
                ],
                "threshold": {"line": {"color": "black", "width": 3}, "value": threshold * 100},
            },
        )
    )
    figure.update_layout(height=260, margin={"l": 30, "r": 30, "t": 50, "b": 10})
    return figure


def explanation_bars(effects, top: int = 12) -> go.Figure:
    """The `top` features that move this client's probability most, largest at the top.

    `effects` is Explanation.effects (feature, value, effect in probability points). Each
    bar is labelled in points with its sign ("+5.8 pts", "−2.1 pts"), and the x axis leaves
    room beyond the longest bars so that no label is cut.
    """
    shown = effects.head(top).iloc[::-1]
    labels = [
        f"{TITLES[name]}: {describe_value(name, value)}"
        for name, value in zip(shown["feature"], shown["value"], strict=True)
    ]
    points = shown["effect"].to_numpy(dtype=float) * 100
    figure = go.Figure(
        go.Bar(
            x=points,
            y=labels,
            orientation="h",
            marker_color=[UP if p > 0 else DOWN for p in points],
            text=[signed_points(p) for p in points],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}<br>%{text}<extra></extra>",
        )
    )
    figure.update_layout(
        height=120 + 28 * len(shown),
        margin={"l": 10, "r": 20, "t": 30, "b": 40},
        xaxis={
            "title": "Effect on the probability of default (percentage points)",
            "range": room_for_labels(points),
        },
        title="Red pushes towards default, blue away from it",
    )
    return figure


def signed_points(points: float) -> str:
    """Percentage points with a real sign: "+5.8 pts", "−2.1 pts"; two decimals below 0.05
    so that a small effect does not read "0.0", no sign on what rounds to nothing."""
    size = abs(points)
    digits = 2 if 0 < size < 0.05 else 1
    sign = "" if round(size, digits) == 0 else "−" if points < 0 else "+"
    return f"{sign}{size:.{digits}f} pts"


def room_for_labels(points, share: float = 0.4) -> list[float]:
    """An x range around zero and every bar, with `share` of the bars' span added on each
    side that has bars, where their labels ("−12.3 pts") are drawn."""
    low, high = (
        min(0.0, float(np.min(points, initial=0))),
        max(0.0, float(np.max(points, initial=0))),
    )
    span = (high - low) or 1.0
    left = low - share * span if low < 0 else -0.05 * span
    right = high + share * span if high > 0 else 0.05 * span
    return [left, right]


def probability_histogram(probabilities, threshold: float) -> go.Figure:
    """How a file's probabilities spread, with the threshold as a vertical line."""
    figure = go.Figure(
        go.Histogram(
            x=np.asarray(probabilities, dtype=float),
            xbins={"start": 0, "end": 1, "size": 0.02},
            marker_color=DOWN,
            hovertemplate="%{x}<br>%{y:,} clients<extra></extra>",
        )
    )
    return _with_threshold(figure, threshold)


def probability_bars(counts, threshold: float) -> go.Figure:
    """A scored file's probabilities as counted in fixed bins (core.serving.files: one per
    0.01, then one for exactly 1), with the threshold as a vertical line."""
    counts = np.asarray(counts, dtype=np.int64)
    width = 1 / (len(counts) - 1)
    starts = np.arange(len(counts)) * width
    figure = go.Figure(
        go.Bar(
            x=starts + width / 2,
            y=counts,
            width=width,
            customdata=np.stack([starts, np.minimum(starts + width, 1)], axis=1),
            marker_color=DOWN,
            hovertemplate="%{customdata[0]:.2f}-%{customdata[1]:.2f}<br>%{y:,} clients"
            "<extra></extra>",
        )
    )
    return _with_threshold(figure, threshold)


def _with_threshold(figure: go.Figure, threshold: float) -> go.Figure:
    """`figure`, counts of clients by probability of default, with the threshold as a
    dashed vertical line."""
    figure.add_vline(
        x=threshold, line_color=UP, line_dash="dash", annotation_text=f"threshold {threshold:.2f}"
    )
    figure.update_layout(
        height=320,
        margin={"l": 10, "r": 10, "t": 30, "b": 40},
        xaxis={"title": "Probability of default", "range": [0, 1]},
        yaxis_title="Clients",
        bargap=0.05,
    )
    return figure


def compare_distributions(recent, reference, title: str, *, unit_range=None) -> go.Figure:
    """Recent scores' values against the training reference, each as shares of its rows."""
    figure = go.Figure()
    for values, name, color in (
        (reference, "Training", REFERENCE),
        (recent, "Recent scores", RECENT),
    ):
        figure.add_trace(
            go.Histogram(
                x=np.asarray(values, dtype=float),
                name=f"{name} ({len(values):,})",
                histnorm="percent",
                marker_color=color,
                opacity=0.5,
                nbinsx=40,
            )
        )
    figure.update_layout(
        barmode="overlay",
        title=title,
        height=300,
        margin={"l": 10, "r": 10, "t": 40, "b": 40},
        yaxis_title="% of rows",
        legend={"orientation": "h", "y": -0.2},
    )
    if unit_range:
        figure.update_xaxes(range=unit_range)
    return figure
