"""A person opens Home in Chromium and sees the portfolio figures and, in the Admin section,
a visit counter that goes up."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


ADMIN = "Admin: services, data loads and the audit log"


def visits_shown(page) -> int:
    page.get_by_text(ADMIN).click()
    metric = page.get_by_test_id("stMetric").filter(has_text="Visits")
    expect(metric).to_contain_text(re.compile(r"\d"))
    return int(metric.get_by_test_id("stMetricValue").inner_text().replace(",", ""))


def test_home_shows_counts_and_a_visit_counter_that_goes_up(
    page, start_dashboard, loaded_database, real_redis, redis_url
):
    url = start_dashboard(DATABASE_URL=loaded_database, REDIS_URL=redis_url)
    page.goto(url)
    expect(page.get_by_text("Credit default dashboard").first).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="Clients")).to_contain_text("24,000")
    first = visits_shown(page)
    page.reload()
    expect(page.get_by_test_id("stMetric").filter(has_text="Clients")).to_contain_text("24,000")
    assert visits_shown(page) == first + 1
    assert int(real_redis.get("credit:hits")) == first + 1


def test_home_opens_at_slash_home_and_the_root_leads_there(page, start_dashboard, loaded_database):
    url = start_dashboard(DATABASE_URL=loaded_database)
    page.goto(f"{url}/home")
    clients = page.get_by_test_id("stMetric").filter(has_text="Clients")
    expect(clients).to_contain_text("24,000", timeout=30_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="Default rate")).to_be_visible()
    page.get_by_text(ADMIN).click()
    expect(page.get_by_text("Load history", exact=True)).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
    page.goto(url)
    expect(clients).to_contain_text("24,000", timeout=30_000)
    expect(page).to_have_url(re.compile(r"/home$"))
    expect(page.get_by_text("Page not found")).to_have_count(0)
