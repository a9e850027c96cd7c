"""A person explores clients in Chromium: a filter changes the average age to the right
value, a shared link reopens the view, and a client lookup draws the payment history."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core import explore
from core.db.engine import make_engine
from core.explore.filters import Filters
from dashboard.charts.explore import metric_values
from tests.e2e.steps import open_tab

pytestmark = pytest.mark.browser


def average_age(database_url: str, filters: Filters) -> str:
    """The average age as the page should show it, from core."""
    engine = make_engine(database_url)
    try:
        return metric_values(explore.figures(engine, filters))["Average age"]
    finally:
        engine.dispose()


def metric(page, name: str):
    return page.get_by_test_id("stMetric").filter(has_text=name).get_by_test_id("stMetricValue")


def test_a_filter_changes_the_average_age(page, start_dashboard, loaded_database):
    url = start_dashboard(DATABASE_URL=loaded_database)
    page.goto(f"{url}/clients")
    expect(metric(page, "Average age")).to_have_text(average_age(loaded_database, Filters()))
    expect(metric(page, "Clients")).to_have_text("24,000")

    page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").filter(has_text="Sex").click()
    page.get_by_role("option", name="female").click()
    page.keyboard.press("Escape")

    women = average_age(loaded_database, Filters(sex=(2,)))
    assert women != average_age(loaded_database, Filters())
    expect(metric(page, "Average age")).to_have_text(women)
    expect(page).to_have_url(f"{url}/clients?sex=2")


def test_a_shared_link_opens_the_same_view(page, start_dashboard, loaded_database):
    url = start_dashboard(DATABASE_URL=loaded_database)
    page.goto(f"{url}/clients?education=1&age=30-40")
    expected = average_age(loaded_database, Filters(education=(1,), age=(30, 40)))
    expect(metric(page, "Average age")).to_have_text(expected)
    expect(page.get_by_text("Showing graduate school; age 30-40.")).to_be_visible()


def test_client_lookup_draws_the_history_chart(page, start_dashboard, loaded_database):
    url = start_dashboard(DATABASE_URL=loaded_database)
    page.goto(f"{url}/clients")
    lookup = page.get_by_label("Client id")
    lookup.click()
    page.keyboard.type("abc")  # not a number: the widget does not take it
    expect(lookup).to_have_value("")

    lookup.fill("7")
    lookup.press("Enter")
    expect(page.get_by_text("Client 7: female, age 28, high school, married")).to_be_visible()
    history = page.get_by_test_id("stPlotlyChart").filter(
        has_text="Client 7: six months of payments"
    )
    expect(history).to_be_visible()
    expect(history.locator("g.trace.bars")).to_have_count(2)  # bill and paid
    expect(history.get_by_text("Apr 2005")).to_be_visible()

    lookup.fill("99999")
    lookup.press("Enter")
    expect(page.get_by_text("no client with id 99999")).to_be_visible()


def test_the_matching_clients_open_in_their_tab(page, start_dashboard, loaded_database):
    """The table is drawn once its tab is opened; the charts' tab is open first."""
    url = start_dashboard(DATABASE_URL=loaded_database)
    page.goto(f"{url}/clients?sex=2")
    expect(page.get_by_test_id("stPlotlyChart").filter(has_text="Age distribution")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(0)
    women = metric(page, "Clients").inner_text()
    open_tab(page, "Matching clients")
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    expect(
        page.get_by_role("button", name=f"Download the {women} matching clients (CSV)")
    ).to_be_visible()
    open_tab(page, "Default rates")
    charts = page.get_by_test_id("stPlotlyChart")
    expect(charts.filter(has_text="Default rate by education")).to_be_visible()
    expect(charts).to_have_count(3)  # the closed tabs' charts are gone: by sex, education, marriage
