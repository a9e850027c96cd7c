"""Plotly figures of the Clients and Payments pages: plain functions of core.queries results.

No Streamlit here, so each builder is tested on its own. A result with no rows gives an
empty chart that says "no clients match" rather than an error.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from core.explore.clients import ClientRecord, Figures
from core.vocabulary import STATUS_GROUPS, STATUS_LABELS
from dashboard import formats

NO_MATCH = "no clients match"
OUTCOMES = {False: ("did not default", "#4C78A8"), True: ("defaulted", "#E45756")}
GROUP_COLOURS = ["#BAB0AC", "#54A24B", "#4C78A8", "#F2CF5B", "#F58518", "#E45756"]
# The client history chart: bars below, the strip of repayment statuses above them.
BARS_BAND, STATUS_BAND = [0, 0.74], [0.8, 0.95]
RATE_HEIGHT = 360  # the three rate charts side by side line up
RATE_COLOUR, SMALL_COLOUR = "#E45756", "#F4B8B9"  # a small group's bar: paler, hatched
SMALL_MARK = "small group"
VEIL = "rgba(255,255,255,0.6)"  # over a small group's heatmap row
# The client table's headers; the page gives "Credit limit (NT$)" its NT$ format.
CLIENT_COLUMNS = ["Client", "Credit limit (NT$)", "Sex", "Education", "Marriage", "Age"]
CLIENT_COLUMNS += ["Defaulted"]


def metric_values(figures: Figures) -> dict[str, str]:
    """The Clients page's headline numbers as shown: label -> formatted value."""
    return {
        "Clients": formats.count(figures.clients),
        "Average age": formats.number(figures.average_age, 2),
        "Default rate": formats.percent(figures.default_rate),
        "Average credit limit": formats.money(figures.average_limit),
    }


def client_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """A page of the client table with plain labels instead of codes."""
    columns = [
        frame["id"],
        frame["limit_bal"],
        [formats.coded("SEX", code) for code in frame["sex"]],
        [formats.coded("EDUCATION", code) for code in frame["education"]],
        [formats.coded("MARRIAGE", code) for code in frame["marriage"]],
        frame["age"],
        ["yes" if value else "no" for value in frame["defaulted"]],
    ]
    return pd.DataFrame(
        {name: list(values) for name, values in zip(CLIENT_COLUMNS, columns, strict=True)}
    )


def describe_client(profile: dict) -> str:
    """One line about a client, in words."""
    return (
        f"**Client {profile['id']}**: {profile['sex_label']}, age {profile['age']}, "
        f"{profile['education_label']}, {profile['marriage_label']}, credit limit "
        f"{formats.money(profile['limit_bal'])}; defaulted the next month: "
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
    figure.update_xaxes(tickformat=",.0f")
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
    """Default rate per category of `by`, one horizontal bar each (its label readable
    however many there are), each saying how many clients it is taken over ("24.3% of
    9,578"); a group under formats.SMALL_GROUP clients is paler, hatched and marked "small
    group" beside its name."""
    title = f"Default rate by {by}"
    if frame.empty:
        return empty(title)
    smalls = [formats.small(n) for n in frame["clients"]]
    figure = go.Figure(
        go.Bar(
            x=frame["rate"],
            y=frame["label"],
            orientation="h",
            text=[
                formats.rate_of(rate, n, digits=1)
                for rate, n in zip(frame["rate"], frame["clients"], strict=True)
            ],
            textposition="outside",
            cliponaxis=False,
            customdata=frame[["clients", "defaulted"]],
            hovertemplate="%{y}: %{x:.1%} of %{customdata[0]:,} clients "
            "(%{customdata[1]:,} defaulted)<extra></extra>",
            marker={
                "color": [SMALL_COLOUR if s else RATE_COLOUR for s in smalls],
                "pattern": {"shape": ["/" if s else "" for s in smalls], "fgcolor": RATE_COLOUR},
            },
        )
    )
    ticks = [
        f"{name}<br><i>{SMALL_MARK}</i>" if s else name
        for name, s in zip(frame["label"], smalls, strict=True)
    ]
    figure.update_layout(
        title=title,
        # room right of the longest bar for its label
        xaxis={"title": "default rate", "tickformat": ".0%", "range": [0, _room(frame["rate"])]},
        yaxis={
            "tickvals": list(frame["label"]),
            "ticktext": ticks,
            "autorange": "reversed",
            "type": "category",
        },
        height=RATE_HEIGHT,
    )
    return figure


def _room(rates: pd.Series) -> float:
    return max(float(rates.max()), 0.05) * 1.6


def small_group_note(*frames: pd.DataFrame) -> str | None:
    """The caption under rate charts when one of `frames` (with a `clients` column) has a
    group too small to read its rate as it stands."""
    for frame in frames:
        if "clients" in frame and any(formats.small(n) for n in frame["clients"]):
            return formats.SMALL_GROUP_NOTE
    return None


def payment_history(record: ClientRecord) -> go.Figure:
    """A client's bill and amount paid per month, oldest first, under a strip that names
    each month's repayment status (its own axis above the bars, so no word covers a bar)."""
    history = record.history
    figure = go.Figure()
    money = "%{x}: NT$ %{y:,.0f}<extra>%{fullData.name}</extra>"
    figure.add_bar(
        x=history["label"], y=history["bill_amt"], name="bill", marker_color="#4C78A8",
        hovertemplate=money,
    )  # fmt: skip
    figure.add_bar(
        x=history["label"], y=history["pay_amt"], name="paid", marker_color="#54A24B",
        hovertemplate=money,
    )  # fmt: skip
    figure.add_scatter(
        x=history["label"],
        y=[0] * len(history),
        name="repayment status",
        yaxis="y2",
        mode="markers+text",
        text=history["status_label"],
        textposition="top center",
        marker={"size": 12, "color": [_status_colour(s) for s in history["status"]]},
        hovertemplate="%{x}: %{text}<extra></extra>",
        showlegend=False,
    )
    figure.update_layout(
        title=f"Client {record.profile['id']}: six months of payments",
        barmode="group",
        yaxis={"title": "NT$", "domain": BARS_BAND, "tickformat": ",.0f"},
        yaxis2={"domain": STATUS_BAND, "range": [-0.5, 1.5], "visible": False},
        annotations=[
            {
                "text": "repayment status",
                "xref": "paper",
                "yref": "paper",
                "x": 0,
                "y": STATUS_BAND[1],
                "xanchor": "left",
                "yanchor": "bottom",
                "showarrow": False,
                "font": {"size": 12, "color": "#666"},
            }
        ],
        legend={"orientation": "h", "y": -0.15},
        height=460,
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
    """Share of clients in each repayment-status group per month, stacked to 100%; under
    formats.SMALL_GROUP matching clients the bars are paler and the months marked."""
    title = "Repayment status per month"
    if frame.empty:
        return empty(title)
    smalls = [formats.small(n) for n in frame["clients"]]
    figure = go.Figure()
    for (name, _, _), colour in zip(STATUS_GROUPS, GROUP_COLOURS, strict=True):
        figure.add_bar(
            x=frame["label"],
            y=frame[f"share: {name}"],
            name=name,
            marker={"color": colour, "opacity": [0.4 if s else 1 for s in smalls]},
            customdata=frame[[name, "clients"]],
            hovertemplate=f"{name}: %{{y:.1%}} (%{{customdata[0]:,}} of %{{customdata[1]:,}} "
            "clients)<extra></extra>",
        )
    ticks = [
        f"{month}<br><i>{SMALL_MARK}</i>" if s else month
        for month, s in zip(frame["label"], smalls, strict=True)
    ]
    figure.update_layout(
        title=title,
        barmode="stack",
        xaxis={"tickvals": list(frame["label"]), "ticktext": ticks},
        yaxis={"title": "share of clients", "tickformat": ".0%"},
    )
    return figure


def transitions(frame: pd.DataFrame) -> go.Figure:
    """Heatmap: of the clients in each status one month (row), the share in each status the
    next month (column); the hover gives the number of clients, each row's label how many
    it is taken over. Rows under formats.SMALL_GROUP clients are veiled (paler) and marked
    "small group"."""
    title = "Repayment status from one month to the next"
    if frame.empty:
        return empty(title)
    counts = _moves(frame)
    codes, totals = list(counts.index), counts.sum(axis=1)
    shares = counts.div(totals.where(lambda s: s > 0), axis=0)
    names = [STATUS_LABELS.get(code, f"code {code}") for code in codes]
    rows = [_row_name(name, total) for name, total in zip(names, totals, strict=True)]
    figure = go.Figure(
        go.Heatmap(
            z=shares.to_numpy(),
            x=names,
            y=rows,
            customdata=counts.to_numpy(),
            text=[[f"{v:.0%}" if v == v and v > 0 else "" for v in row] for row in shares.values],
            texttemplate="%{text}",
            hovertemplate="%{y} → %{x}: %{z:.1%}<br>%{customdata:,} clients<extra></extra>",
            colorscale="Reds",
            zmin=0,
            zmax=1,
            colorbar={"title": "share", "tickformat": ".0%"},
        )
    )
    for place, total in enumerate(totals):
        if formats.small(total):  # a veil over the row: its shares rest on a few clients
            figure.add_shape(
                type="rect", xref="paper", x0=0, x1=1, yref="y", y0=place - 0.5,
                y1=place + 0.5, layer="above", fillcolor=VEIL, line={"width": 0},
            )  # fmt: skip
    figure.update_layout(
        title=title,
        xaxis={"title": "status the next month", "type": "category"},
        yaxis={"title": "status this month", "type": "category", "autorange": "reversed"},
        height=max(420, 34 * len(codes) + 200),
    )
    return figure


def _moves(frame: pd.DataFrame) -> pd.DataFrame:
    """Clients per status this month (rows) and the next (columns), every status both ways."""
    counts = frame.pivot(index="from_status", columns="to_status", values="clients")
    codes = sorted(set(counts.index) | set(counts.columns))
    return counts.reindex(index=codes, columns=codes).fillna(0).astype(int)


def starting_statuses(frame: pd.DataFrame) -> pd.DataFrame:
    """The clients each row of the transitions heatmap is taken over: status, clients."""
    if frame.empty:
        return pd.DataFrame({"status": [], "clients": []})
    totals = _moves(frame).sum(axis=1)
    return pd.DataFrame({"status": totals.index, "clients": totals.to_numpy()})


def _row_name(name: str, clients: int) -> str:
    mark = f", {SMALL_MARK}" if formats.small(clients) else ""
    return f"{name} ({formats.count(clients)} clients{mark})"
