"""Clients: figures of the filtered clients (average age included), charts, the client
table with CSV download, and a client's lookup by id."""

from math import ceil

import streamlit as st

from core import explore
from core.data.status import data_status
from core.db.engine import DatabaseError
from core.explore.filters import id_from_query
from core.vocabulary import ONE_MONTH_LATE_NOTE
from dashboard.components import (
    engine,
    escape_markdown,
    keep_widget_state,
    query_cache,
    stop_with,
    stop_without_clients,
)
from dashboard.figures import as_arrow
from dashboard.figures import explore as charts
from dashboard.filters import filter_sidebar, mirror_in_url, query_params

LARGEST_ID = 2**53 - 1  # the largest whole number a browser holds exactly
COLUMNS = {
    "id": "Client",
    "limit_bal": "Credit limit",
    "sex": "Sex",
    "education": "Education",
    "marriage": "Marriage",
    "age": "Age",
    "defaulted": "Defaulted",
}

VIEWS = ["Ages and credit limits", "Default rates", "Matching clients"]
TABLE_KEYS = ("table_sort", "table_desc", "table_size", "table_page")


def people_charts(db, filters, cache) -> None:
    """The age and credit-limit distributions of the matching clients."""
    try:
        ages = explore.age_distribution(db, filters, cache=cache)
        limits = explore.limit_distribution(db, filters, cache=cache)
    except DatabaseError as exc:
        stop_with(exc)
    st.plotly_chart(charts.age_distribution(ages), key="chart_age")
    st.plotly_chart(charts.limit_distribution(limits, explore.LIMIT_BIN), key="chart_limit")


def rate_charts(db, filters, cache) -> None:
    """The default rate by sex, education and marriage, with counts and small groups marked."""
    try:
        rates = {
            by: explore.default_rates(db, filters, by, cache=cache) for by in explore.BREAKDOWNS
        }
    except DatabaseError as exc:
        stop_with(exc)
    for column, by in zip(st.columns(3), explore.BREAKDOWNS, strict=True):
        column.plotly_chart(charts.default_rates(rates[by], by), key=f"chart_rate_{by}")
    if note := charts.small_group_note(*rates.values()):
        st.caption(note)


def client_table(db, filters, cache, matching: int) -> None:
    """The matching clients a page at a time, sorted by a column, and their CSV download."""
    sort_column, order_column, size_column, page_column = st.columns(4)
    sort = sort_column.selectbox(
        "Sort by", explore.SORTABLE, format_func=COLUMNS.get, key="table_sort"
    )
    descending = order_column.toggle("Descending", key="table_desc")
    page_size = size_column.selectbox("Rows per page", [25, 50, 100], key="table_size")
    pages = max(1, ceil(matching / page_size))
    if st.session_state.get("table_page", 1) > pages:
        st.session_state["table_page"] = pages  # the filters shrank the table
    page = page_column.number_input(
        f"Page (of {pages:,})", min_value=1, max_value=pages, step=1, key="table_page"
    )
    try:
        rows = explore.client_table(
            db,
            filters,
            sort=sort,
            descending=descending,
            page=page,
            page_size=page_size,
            cache=cache,
        )
    except DatabaseError as exc:
        stop_with(exc)
    st.dataframe(
        as_arrow(charts.client_rows(rows)),
        hide_index=True,
        key="table_rows",
        column_config={
            "Client": st.column_config.NumberColumn(format="%d"),
            "Credit limit (NT$)": st.column_config.NumberColumn(format="NT$ %,d"),
        },
    )
    st.download_button(
        f"Download the {matching:,} matching clients (CSV)",
        data=lambda: b"".join(explore.export_csv(db, filters)),
        file_name="clients.csv",
        mime="text/csv",
        on_click="ignore",
        disabled=matching == 0,
        key="table_download",
    )


st.title("Clients")
db, cache = engine(), query_cache()

try:
    stop_without_clients(data_status(db))
    filters = filter_sidebar(explore.bounds(db, cache=cache))
    shown = explore.figures(db, filters, cache=cache)
except DatabaseError as exc:
    stop_with(exc)

st.caption(f"Showing {filters.describe()}.")
for column, (name, value) in zip(st.columns(4), charts.metric_values(shown).items(), strict=True):
    column.metric(name, value)
if shown.clients == 0:
    st.info("No clients match these filters: widen or clear them in the sidebar.")

# Tabs draw only the open one (on_change="rerun"): a fresh browser shows the first charts
# sooner, and a run reads only what it shows. The table's choices outlive a closed tab.
keep_widget_state(TABLE_KEYS)
people, rates_tab, table_tab = st.tabs(VIEWS, key="clients_view", on_change="rerun")
if people.open:
    with people:
        people_charts(db, filters, cache)
if rates_tab.open:
    with rates_tab:
        rate_charts(db, filters, cache)
if table_tab.open:
    with table_tab:
        client_table(db, filters, cache, shown.clients)

st.subheader("Look up a client")
if "lookup_id" not in st.session_state:
    linked, problems = id_from_query(query_params(), "client", LARGEST_ID)
    for problem in problems:
        st.warning(f"The link's {escape_markdown(problem)}")
    if linked is not None:
        st.session_state["lookup_id"] = linked
client_id = st.number_input(
    "Client id",
    min_value=1,
    max_value=LARGEST_ID,
    value=None,
    step=1,
    placeholder="a whole number, e.g. 42",
    key="lookup_id",
)
if client_id is not None:
    try:
        record = explore.client_lookup(db, int(client_id), cache=cache)
    except DatabaseError as exc:
        stop_with(exc)
    if record is None:
        st.warning(f"no client with id {client_id}")
    else:
        st.markdown(charts.describe_client(record.profile))
        st.plotly_chart(charts.payment_history(record), key="chart_history")
        st.caption(ONE_MONTH_LATE_NOTE)

mirror_in_url(filters, client=client_id)
if cache.error:
    reason = cache.error.removeprefix("cache off: ")
    st.warning(f"The query cache is off, so every result is computed afresh: {reason}")
