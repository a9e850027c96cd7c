"""AppTest of the Payments page from the shell: the shared filters, the month-pair choice,
and the monthly numbers, status shares and transition heatmap, checked against core."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from core import explore
from core.explore.filters import Filters
from core.vocabulary import MONTH_LABELS, ONE_MONTH_LATE_NOTE, STATUS_GROUPS
from dashboard.charts.explore import NO_MATCH, month_rows
from tests.conftest import SCALED_MEDIANS
from tests.dashboard.charts import chart, decode, open_expander, open_tab, texts
from tests.dashboard.conftest import page_opener

PAYMENTS = "../pages/payments.py"
CLIENTS = "../pages/clients.py"


payments_page = page_opener(PAYMENTS, "payments_page")
VIEW = "payments_view"  # the key of the page's tabs
VIEWS = ["Bills and payments", "Repayment status", "Status moves"]


def assert_shows(app, db, filters: Filters, month: int | None = None) -> None:
    """Charts, numbers and link are those of core for these filters, in each tab (each drawn
    only while open); the first tab is open again after."""
    assert not app.exception
    assert [tab.label for tab in app.tabs] == VIEWS
    open_tab(app, VIEW, VIEWS[0])
    assert not app.get("dataframe")  # the numbers' expander is closed
    open_expander(app, "month_numbers_open")
    months = explore.payment_months(db, filters)
    pd.testing.assert_frame_equal(app.dataframe[0].value, month_rows(months), check_dtype=False)
    billed, paid = chart(app, "chart_totals")["traces"]
    assert billed["x"] == list(months["label"]) == [MONTH_LABELS[m] for m in range(6, 0, -1)]
    assert (billed["y"], paid["y"]) == (list(months["total_bill"]), list(months["total_paid"]))
    median_bill, median_paid = chart(app, "chart_medians")["traces"]
    assert median_bill["y"] == pytest.approx(list(months["median_bill"]))
    assert median_paid["y"] == pytest.approx(list(months["median_paid"]))
    open_tab(app, VIEW, "Repayment status")
    groups = chart(app, "chart_status")["traces"]
    assert [g["name"] for g in groups] == [name for name, _, _ in STATUS_GROUPS]
    for group in groups:
        assert group["y"] == pytest.approx(list(months[f"share: {group['name']}"]))
    assert ONE_MONTH_LATE_NOTE in texts(app.caption)
    open_tab(app, VIEW, "Status moves")
    moves = explore.status_transitions(db, filters, month=month)
    heatmap = chart(app, "chart_transitions")["traces"][0]
    shown_counts = sum(sum(row) for row in heatmap["customdata"])
    assert shown_counts == moves["clients"].sum()
    clients = explore.figures(db, filters).clients
    assert f": {clients:,} clients" in app.caption[0].value
    assert app.query_params == filters.to_query()
    open_tab(app, VIEW, VIEWS[0])


def test_opens_on_all_clients(payments_page, db):
    app = payments_page()
    assert_shows(app, db, Filters())
    assert app.caption[0].value.startswith("Showing all clients: 24,000 clients")
    assert not app.checkbox  # every median exact: nothing to ask for


def test_the_numbers_read_without_scrolling_and_the_one_month_quirk_is_said(payments_page, db):
    """Month, clients and money first under headers in words, formatted; and a note that
    "1 month late" hardly occurs before the latest month (/work/shared/data quirk)."""
    app = open_expander(payments_page(), "month_numbers_open")
    table = app.dataframe[0]
    assert list(table.value.columns[:6]) == [
        "Month", "Clients", "Total billed (NT$)", "Total paid (NT$)", "Median bill (NT$)",
        "Median payment (NT$)",
    ]  # fmt: skip
    assert "1 month late (%)" in table.value.columns
    assert not any("_" in column for column in table.value.columns)
    formats = {
        name: column.get("type_config", {}).get("format")
        for name, column in json.loads(table.proto.columns).items()
    }
    assert formats["Total billed (NT$)"] == "%,d" and formats["Clients"] == "%,d"
    assert formats["1 month late (%)"] == "%.1f%%"
    assert ONE_MONTH_LATE_NOTE in texts(open_tab(app, VIEW, "Repayment status").caption)
    months = explore.payment_months(db, Filters())
    latest = months.set_index("label")["share: 1 month late"]
    assert latest["Sep 2005"] > 0.1 and latest.drop("Sep 2005").max() < 0.01  # the quirk holds


@pytest.mark.parametrize(
    ("kind", "key", "value", "filters"),
    [
        ("multiselect", "filter_sex", [1], Filters(sex=(1,))),
        ("multiselect", "filter_education", [3, 4], Filters(education=(3, 4))),
        ("multiselect", "filter_marriage", [1], Filters(marriage=(1,))),
        ("slider", "filter_age", (25, 35), Filters(age=(25, 35))),
        ("slider", "filter_limit", (100_000, 500_000), Filters(limit_bal=(100_000, 500_000))),
        ("radio", "filter_defaulted", "yes", Filters(defaulted=True)),
    ],
)
def test_each_filter_widget_changes_what_is_shown(payments_page, db, kind, key, value, filters):
    app = payments_page()
    getattr(app, kind)(key=key).set_value(value).run()
    assert_shows(app, db, filters)


@pytest.mark.parametrize("month", [5, 4, 3, 2, 1])
def test_the_month_pair_chooses_the_transitions(payments_page, db, month):
    app = open_tab(payments_page(), VIEW, "Status moves")
    app.multiselect(key="filter_sex").set_value([2])
    app.selectbox(key="transition_month").set_value(month).run()
    assert_shows(app, db, Filters(sex=(2,)), month=month)
    open_tab(app, VIEW, "Status moves")  # the pair chosen outlives the closed tab
    later, earlier = MONTH_LABELS[month], MONTH_LABELS[month + 1]
    assert app.selectbox(key="transition_month").value == month
    assert app.selectbox(key="transition_month").format_func(month) == f"{earlier} → {later}"
    moves = explore.status_transitions(db, Filters(sex=(2,)), month=month)
    heatmap = chart(app, "chart_transitions")["traces"][0]
    codes = sorted(set(moves["from_status"]) | set(moves["to_status"]))
    counts = moves.pivot(index="from_status", columns="to_status", values="clients")
    counts = counts.reindex(index=codes, columns=codes).fillna(0).astype(int)
    assert heatmap["customdata"] == counts.to_numpy().tolist()


def test_filters_set_here_apply_on_clients(payments_page, db):
    app = payments_page()
    app.slider(key="filter_age").set_value((40, 50)).run()
    app.switch_page(CLIENTS).run()
    assert app.slider(key="filter_age").value == (40, 50)
    expected = explore.figures(db, Filters(age=(40, 50)))
    assert app.metric[0].value == f"{expected.clients:,}"


def test_no_clients_match_shows_empty_charts(payments_page):
    app = payments_page()
    app.multiselect(key="filter_marriage").set_value([0])
    app.slider(key="filter_age").set_value((21, 21)).run()
    assert not app.exception
    assert "No clients match these filters" in app.info[0].value
    assert app.caption[0].value.startswith("Showing undocumented (0); age 21-21: 0 clients")
    for label, keys in zip(
        VIEWS,
        [("chart_totals", "chart_medians"), ("chart_status",), ("chart_transitions",)],
        strict=True,
    ):
        open_tab(app, VIEW, label)
        for key in keys:
            assert chart(app, key)["annotations"] == [NO_MATCH]
    open_tab(app, VIEW, VIEWS[0])
    assert open_expander(app, "month_numbers_open").dataframe[0].value.empty


def test_redis_down_results_still_show_and_the_page_says_the_cache_is_off(payments_page, db):
    app = payments_page(REDIS_URL="redis://127.0.0.1:1/0")
    assert_shows(app, db, Filters())
    assert "The query cache is off" in app.warning[-1].value


def test_database_down_gives_a_readable_error(dashboard):
    app = dashboard(PAYMENTS, DATABASE_URL="postgresql://root@127.0.0.1:1/credit")
    assert not app.exception
    assert "The database is not available right now" in app.error[0].value
    assert "127.0.0.1:1" in app.error[0].value


def test_an_empty_database_points_to_home(dashboard, tmp_path):
    app = dashboard(PAYMENTS, DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    assert not app.exception
    assert "load the data set on the Home page" in app.info[0].value


def test_broad_filters_show_estimated_medians_until_exact_ones_are_asked_for(
    dashboard, estimating_postgres
):
    db, women = estimating_postgres, Filters(sex=(2,))
    url = db.url.render_as_string(hide_password=False)
    app = dashboard(PAYMENTS, DATABASE_URL=url, **SCALED_MEDIANS)
    app.multiselect(key="filter_sex").set_value([2]).run()
    estimate = explore.payment_months(db, women)
    sampled, clients = estimate["median_clients"].max(), estimate["clients"].max()
    assert sampled < clients
    shown = chart(app, "chart_medians")
    assert "estimated, with 95% intervals" in shown["title"]
    for trace, measure in zip(shown["traces"], ("bill", "paid"), strict=True):
        middle = estimate[f"median_{measure}"]
        assert trace["y"] == pytest.approx(list(middle))
        assert decode(trace["error_y"]["array"]) == pytest.approx(
            list(estimate[f"{measure}_high"] - middle)
        )
        assert decode(trace["error_y"]["arrayminus"]) == pytest.approx(
            list(middle - estimate[f"{measure}_low"])
        )
    assert f"random sample: {sampled:,} of the {clients:,} matching clients" in texts(app.caption)

    app.checkbox(key="exact_medians").check().run()
    exact = explore.payment_months(db, women, exact=True)
    shown = chart(app, "chart_medians")
    assert shown["title"] == "Median bill and payment per month"
    for trace, measure in zip(shown["traces"], ("bill", "paid"), strict=True):
        assert trace["y"] == pytest.approx(list(exact[f"median_{measure}"]))
        assert "error_y" not in trace
    assert "random sample" not in texts(app.caption)
    open_expander(app, "month_numbers_open")
    pd.testing.assert_frame_equal(app.dataframe[0].value, month_rows(exact), check_dtype=False)

    app.checkbox(key="exact_medians").uncheck().run()
    assert "random sample" in texts(app.caption)
