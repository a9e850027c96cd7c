"""Plotly figures of the Clients and Payments pages: plain functions of core.queries results.

No Streamlit here, so each builder is tested on its own. A result with no rows gives an
empty chart that says "no clients match" rather than an error.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.explore.clients import ClientRecord, Figures
from core.explore.filters import label
from core.vocabulary import STATUS_GROUPS, STATUS_LABELS

NO_MATCH = "no clients match"
OUTCOMES = {False: ("did not default", "#4C78A8"), True: ("defaulted", "#E45756")}
GROUP_COLOURS = ["#BAB0AC", "#54A24B", "#4C78A8", "#F2CF5B", "#F58518", "#E45756"]


def metric_values(figures: Figures) -> dict[str, str]:
    """The Clients page's headline numbers as shown: label -> formatted value."""

    def shown(value: float | None, pattern: str) -> str:
        return "–" if value is None else pattern.format(value)

    return {
        "Clients": f"{figures.clients:,}",
        "Average age": shown(figures.average_age, "{:.2f}"),
        "Default rate": shown(figures.default_rate, "{:.1%}"),
        "Average credit limit": shown(figures.average_limit, "NT$ {:,.0f}"),
    }


def client_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """A page of the client table with plain labels instead of codes."""
    return pd.DataFrame(
        {
            "id": frame["id"],
            "credit limit (NT$)": frame["limit_bal"],
            "sex": [label("sex", code) for code in frame["sex"]],
            "education": [label("education", code) for code in frame["education"]],
            "marriage": [label("marriage", code) for code in frame["marriage"]],
            "age": frame["age"],
            "defaulted": ["yes" if value else "no" for value in frame["defaulted"]],
        }
    )


def describe_client(profile: dict) -> str:
    """One line about a client, in words."""
    return (
        f"**Client {profile['id']}**: {profile['sex_label']}, age {profile['age']}, "
        f"{profile['education_label']}, {profile['marriage_label']}, credit limit "
        f"NT$ {profile['limit_bal']:,}; defaulted the next month: "
        f"{'yes' if profile['defaulted'] else 'no'}."
    )


MONTH_COLUMNS = {
    "label": "Month",
    "clients": "Clients",
    "total_bill": "Total billed (NT$)",
    "total_paid": "Total paid (NT$)",
    "median_bill": "Median bill (NT$)",
    "median_paid": "Median payment (NT$)",
}
MONTH_MONEY = [name for name in MONTH_COLUMNS.values() if name.endswith("(NT$)")]
MONTH_SHARES = [f"{name.capitalize()} (%)" for name, _, _ in STATUS_GROUPS]


def month_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The payments page's monthly numbers as a table, one row per month: month, clients and
    the money first, then the share of clients in each repayment status (in %)."""
    table = frame[list(MONTH_COLUMNS)].rename(columns=MONTH_COLUMNS)
    shares = {
        header: (frame[f"share: {name}"] * 100).round(1)
        for header, (name, _, _) in zip(MONTH_SHARES, STATUS_GROUPS, strict=True)
    }
    return table.assign(**shares)


def empty(title: str, message: str = NO_MATCH) -> go.Figure:
    """A chart with no data and the reason in the middle."""
    figure = go.Figure()
    figure.add_annotation(text=message, showarrow=False, font={"size": 16})
    figure.update_layout(title=title, xaxis={"visible": False}, yaxis={"visible": False})
    return figure


def age_distribution(frame: pd.DataFrame) -> go.Figure:
    """Clients per age, stacked by whether they defaulted."""
    return _stacked_by_outcome(frame, "age", "Age distribution", "age (years)")


def limit_distribution(frame: pd.DataFrame, band: int) -> go.Figure:
    """Clients per credit-limit band, stacked by whether they defaulted."""
    if frame.empty:
        return empty("Credit-limit distribution")
    frame = frame.assign(band=frame["band"] + band / 2)  # bars centred on their band
    figure = _stacked_by_outcome(frame, "band", "Credit-limit distribution", "credit limit (NT$)")
    figure.update_traces(width=band * 0.9)
    return figure


def _stacked_by_outcome(frame: pd.DataFrame, x: str, title: str, x_title: str) -> go.Figure:
    if frame.empty:
        return empty(title)
    figure = go.Figure()
    for outcome, (name, colour) in OUTCOMES.items():
        rows = frame[frame["defaulted"] == outcome]
        figure.add_bar(x=rows[x], y=rows["clients"], name=name, marker_color=colour)
    figure.update_layout(
        title=title, barmode="stack", xaxis_title=x_title, yaxis_title="clients", legend_title=""
    )
    return figure


def default_rates(frame: pd.DataFrame, by: str) -> go.Figure:
    """Default rate per category of `by`, with the number of clients in the hover."""
    title = f"Default rate by {by}"
    if frame.empty:
        return empty(title)
    figure = go.Figure(
        go.Bar(
            x=frame["label"],
            y=frame["rate"],
            text=[f"{rate:.1%}" for rate in frame["rate"]],
            customdata=frame[["clients", "defaulted"]],
            hovertemplate="%{x}: %{y:.1%} of %{customdata[0]:,} clients<extra></extra>",
            marker_color="#E45756",
        )
    )
    figure.update_layout(title=title, yaxis={"title": "default rate", "tickformat": ".0%"})
    return figure


def payment_history(record: ClientRecord) -> go.Figure:
    """A client's bill and amount paid per month, oldest first, each month's status marked."""
    history = record.history
    figure = go.Figure()
    figure.add_bar(x=history["label"], y=history["bill_amt"], name="bill", marker_color="#4C78A8")
    figure.add_bar(x=history["label"], y=history["pay_amt"], name="paid", marker_color="#54A24B")
    figure.add_scatter(
        x=history["label"],
        y=history["status"],
        name="repayment status",
        yaxis="y2",
        mode="lines+markers+text",
        text=history["status_label"],
        textposition="top center",
        marker={"size": 10, "color": [_status_colour(s) for s in history["status"]]},
        line={"color": "#888", "dash": "dot"},
    )
    figure.update_layout(
        title=f"Client {record.profile['id']}: six months of payments",
        barmode="group",
        yaxis={"title": "NT$"},
        yaxis2={
            "title": "repayment status (months late)",
            "overlaying": "y",
            "side": "right",
            "range": [-2.5, max(3, int(history["status"].max())) + 1],
            "tickvals": list(range(-2, 10)),
            "showgrid": False,
        },
        legend={"orientation": "h", "y": -0.15},
    )
    return figure


def _status_colour(status: int) -> str:
    for (_, low, high), colour in zip(STATUS_GROUPS, GROUP_COLOURS, strict=True):
        if low <= status <= high:
            return colour
    return GROUP_COLOURS[-1]


def monthly_totals(frame: pd.DataFrame) -> go.Figure:
    """Total billed and total paid per month."""
    title = "Total bill and payment per month"
    if frame.empty:
        return empty(title)
    figure = go.Figure()
    figure.add_bar(x=frame["label"], y=frame["total_bill"], name="billed", marker_color="#4C78A8")
    figure.add_bar(x=frame["label"], y=frame["total_paid"], name="paid", marker_color="#54A24B")
    figure.update_layout(title=title, barmode="group", yaxis_title="NT$")
    return figure


def monthly_medians(frame: pd.DataFrame) -> go.Figure:
    """Median bill and median payment per month."""
    title = "Median bill and payment per month"
    if frame.empty:
        return empty(title)
    figure, sampled = go.Figure(), estimated(frame)
    for name, measure in (("median bill", "bill"), ("median payment", "paid")):
        middle = frame[f"median_{measure}"]
        bars = None
        if sampled:
            high, low = frame[f"{measure}_high"] - middle, middle - frame[f"{measure}_low"]
            bars = {"type": "data", "array": list(high), "arrayminus": list(low)}
        figure.add_scatter(x=frame["label"], y=middle, name=name, error_y=bars)
    if sampled:
        title += " (estimated, with 95% intervals)"
    figure.update_layout(title=title, yaxis_title="NT$")
    return figure


def estimated(frame: pd.DataFrame) -> bool:
    """Whether payment_months' medians come from a sample of the clients it counts."""
    return bool((frame["median_clients"] < frame["clients"]).any())


def medians_note(frame: pd.DataFrame) -> str | None:
    """What the medians were taken over, when that is a sample."""
    if frame.empty or not estimated(frame):
        return None
    sampled, clients = frame["median_clients"].max(), frame["clients"].max()
    return (
        f"Medians estimated from a random sample: {sampled:,} of the {clients:,} matching "
        "clients; the bars show where the exact median lies, with 95% confidence. Tick "
        "**Exact medians** to sort every matching client's values instead (slower on a "
        "large portfolio)."
    )


def status_shares(frame: pd.DataFrame) -> go.Figure:
    """Share of clients in each repayment-status group per month, stacked to 100%."""
    title = "Repayment status per month"
    if frame.empty:
        return empty(title)
    figure = go.Figure()
    for (name, _, _), colour in zip(STATUS_GROUPS, GROUP_COLOURS, strict=True):
        figure.add_bar(
            x=frame["label"],
            y=frame[f"share: {name}"],
            name=name,
            marker_color=colour,
            customdata=frame[name],
            hovertemplate=f"{name}: %{{y:.1%}} (%{{customdata:,}} clients)<extra></extra>",
        )
    figure.update_layout(
        title=title, barmode="stack", yaxis={"title": "share of clients", "tickformat": ".0%"}
    )
    return figure


def transitions(frame: pd.DataFrame) -> go.Figure:
    """Heatmap: of the clients in each status one month (row), the share in each status the
    next month (column); the hover gives the number of clients."""
    title = "Repayment status from one month to the next"
    if frame.empty:
        return empty(title)
    counts = frame.pivot(index="from_status", columns="to_status", values="clients")
    codes = sorted(set(counts.index) | set(counts.columns))
    counts = counts.reindex(index=codes, columns=codes).fillna(0).astype(int)
    shares = counts.div(counts.sum(axis=1).where(lambda s: s > 0), axis=0)
    names = [f"{code}: {STATUS_LABELS.get(code, code)}" for code in codes]
    figure = go.Figure(
        go.Heatmap(
            z=shares.to_numpy(),
            x=names,
            y=names,
            customdata=counts.to_numpy(),
            text=[[f"{v:.0%}" if v == v and v > 0 else "" for v in row] for row in shares.values],
            texttemplate="%{text}",
            hovertemplate="%{y} → %{x}: %{z:.1%} (%{customdata:,} clients)<extra></extra>",
            colorscale="Reds",
            zmin=0,
            zmax=1,
            colorbar={"title": "share", "tickformat": ".0%"},
        )
    )
    figure.update_layout(
        title=title,
        xaxis={"title": "status the next month", "type": "category"},
        yaxis={"title": "status this month", "type": "category", "autorange": "reversed"},
    )
    return figure
