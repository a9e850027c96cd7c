"""Payments: per month, totals and medians of bills and payments, the share of clients in
each repayment status, and how statuses move from one month to the next."""

import streamlit as st

from core import explore
from core.data.status import data_status
from core.db.engine import DatabaseError
from core.vocabulary import MONTH_LABELS, ONE_MONTH_LATE_NOTE
from dashboard.components import (
    engine,
    keep_widget_state,
    query_cache,
    stop_with,
    stop_without_clients,
)
from dashboard.figures import as_arrow
from dashboard.figures import explore as charts
from dashboard.filters import filter_sidebar, mirror_in_url

ALL_MONTHS = "all"
VIEWS = ["Bills and payments", "Repayment status", "Status moves"]
PAIRS = [ALL_MONTHS, 5, 4, 3, 2, 1]  # the later month of each pair, oldest pair first


def pair_name(month) -> str:
    if month == ALL_MONTHS:
        return "every pair of months"
    return f"{MONTH_LABELS[month + 1]} → {MONTH_LABELS[month]}"


def month_columns() -> dict:
    """The monthly numbers' formats: NT$ and counts with thousands separators, shares in %."""
    money = st.column_config.NumberColumn(format="%,d")  # the headers say NT$
    return {
        "Month": st.column_config.TextColumn(pinned=True),
        "Clients": st.column_config.NumberColumn(format="%,d"),
        **{name: money for name in charts.MONTH_MONEY},
        **{name: st.column_config.NumberColumn(format="%.1f%%") for name in charts.MONTH_SHARES},
    }


def money_charts(db, filters, cache, totals) -> None:
    """Bills and payments per month: totals, medians beside them, and the numbers (drawn
    when their expander is opened)."""
    totals_column, medians_column = st.columns(2)
    totals_column.plotly_chart(charts.monthly_totals(totals), key="chart_totals")
    # Medians are the slowest query here (exact ones sort every matching value), so they
    # run last and fill their place beside the totals when done. Under broad filters on a
    # large portfolio core estimates them from a sample unless the reader asks for exact ones.
    exact = st.session_state.get("exact_medians", False)
    try:
        with medians_column, st.spinner("Working out the medians..."):
            medians = explore.payment_medians(db, filters, exact=exact, cache=cache)
        months = explore.join_medians(totals, medians)
    except DatabaseError as exc:
        stop_with(exc)
    medians_column.plotly_chart(charts.monthly_medians(months), key="chart_medians")
    note = charts.medians_note(months)
    if note or exact:
        medians_column.checkbox(
            "Exact medians",
            key="exact_medians",
            help="Sort every matching client's bills and payments: exact, but it can take "
            "seconds on a large portfolio.",
        )
    if note:
        medians_column.caption(note)
    numbers = st.expander("The numbers per month", key="month_numbers_open", on_change="rerun")
    if numbers.open:
        numbers.dataframe(
            as_arrow(charts.month_rows(months)),
            hide_index=True,
            key="month_numbers",
            column_config=month_columns(),
        )


def status_moves(db, filters, cache, totals) -> None:
    """How clients move between repayment statuses from one month to the next."""
    pair = st.selectbox("Months compared", PAIRS, format_func=pair_name, key="transition_month")
    try:
        moves = explore.status_transitions(
            db, filters, month=None if pair == ALL_MONTHS else pair, cache=cache
        )
    except DatabaseError as exc:
        stop_with(exc)
    st.plotly_chart(charts.transitions(moves), key="chart_transitions")
    if note := charts.small_group_note(totals, charts.starting_statuses(moves)):
        st.caption(note)


st.title("Payments")
db, cache = engine(), query_cache()

try:
    stop_without_clients(data_status(db))
    filters = filter_sidebar(explore.bounds(db, cache=cache))
    # The first query after a load also builds the payments summaries (seconds, once).
    with st.spinner("Summing up the payments..."):
        totals = explore.payment_totals(db, filters, cache=cache)
except DatabaseError as exc:
    stop_with(exc)

clients = int(totals["clients"].iloc[0]) if len(totals) else 0
st.caption(
    f"Showing {filters.describe()}: {clients:,} clients, April to September 2005 "
    "(statements and payments of each month)."
)
if totals.empty:
    st.info("No clients match these filters: widen or clear them in the sidebar.")

# Tabs draw only the open one (on_change="rerun"): a fresh browser shows the first charts
# sooner, and a run reads only what it shows.
keep_widget_state(("transition_month", "exact_medians"))
money_tab, status_tab, moves_tab = st.tabs(VIEWS, key="payments_view", on_change="rerun")
if money_tab.open:
    with money_tab:
        money_charts(db, filters, cache, totals)
if status_tab.open:
    with status_tab:
        st.plotly_chart(charts.status_shares(totals), key="chart_status")
        st.caption(ONE_MONTH_LATE_NOTE)
if moves_tab.open:
    with moves_tab:
        status_moves(db, filters, cache, totals)

mirror_in_url(filters)
if cache.error:
    reason = cache.error.removeprefix("cache off: ")
    st.warning(f"The query cache is off, so every result is computed afresh: {reason}")
