"""A hostile link in Chromium against `streamlit run` as the project starts it: the page
names the ignored value, shows no traceback, and the toolbar has no Deploy button (the
project's .streamlit/config.toml is in force)."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_hostile_link_is_named_without_a_traceback_or_deploy_button(
    page, start_dashboard, loaded_database
):
    url = start_dashboard(DATABASE_URL=loaded_database)
    page.goto(f"{url}/clients?client={quote('²')}&age={'9' * 5_000}-20")
    warning = page.get_by_test_id("stAlertContentWarning")
    expect(warning.filter(has_text="The link's client='²' was ignored")).to_be_visible()
    expect(warning.filter(has_text="(5,003 characters) was ignored")).to_be_visible()
    expect(page.get_by_test_id("stMetric").first).to_be_visible()  # the page went on
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)
    # toolbarMode "minimal": no Deploy button and no developer menu, even on localhost.
    expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)
    expect(page.get_by_test_id("stMainMenu")).to_have_count(0)
