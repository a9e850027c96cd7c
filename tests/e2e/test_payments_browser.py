"""A person reads the Payments page's medians in Chromium: under a broad filter on a large
portfolio they are estimated, drawn with error bars and said to be; ticking Exact medians
replaces them with exact ones. SCALED_MEDIANS makes the 24,000 real clients large enough."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core import explore
from core.explore.filters import Filters
from tests.conftest import SCALED_MEDIANS

pytestmark = pytest.mark.browser


def test_broad_filters_show_estimates_until_exact_medians_are_ticked(
    page, start_dashboard, estimating_postgres, settings_env
):
    settings_env(**SCALED_MEDIANS)
    months = explore.payment_months(estimating_postgres, Filters(sex=(2,)))
    sampled, clients = months["median_clients"].max(), months["clients"].max()
    assert sampled < clients
    database_url = estimating_postgres.url.render_as_string(hide_password=False)
    url = start_dashboard(DATABASE_URL=database_url, **SCALED_MEDIANS)

    page.goto(f"{url}/payments?sex=2")
    note = page.get_by_text("Medians estimated from a random sample")
    expect(note).to_contain_text(f"{sampled:,} of the {clients:,} matching clients")
    medians = page.get_by_test_id("stPlotlyChart").filter(has_text="Median bill and payment")
    expect(medians).to_contain_text("(estimated, with 95% intervals)")
    expect(medians.locator(".errorbar").first).to_be_attached()

    page.get_by_test_id("stCheckbox").filter(has_text="Exact medians").click()
    expect(note).to_have_count(0)
    expect(medians).not_to_contain_text("estimated")
    expect(medians.locator(".errorbar")).to_have_count(0)
    expect(page).to_have_url(f"{url}/payments?sex=2")
