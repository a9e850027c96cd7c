"""A person trains two fast models from the Train page in Chromium, watches the job end,
sees the leaderboard chart, then compares the version on the Leaderboards page."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.steps import choose_fast_training, open_tab

pytestmark = pytest.mark.browser


def test_train_two_fast_models_and_see_the_leaderboard_chart(page, start_dashboard, small_sqlite):
    url = start_dashboard(DATABASE_URL=small_sqlite)
    page.goto(f"{url}/train")
    choose_fast_training(page, ("Logistic Regression (lr)", "Naive Bayes (nb)"))
    models = page.get_by_test_id("stMultiSelect").filter(has_text="Models")
    expect(
        models.get_by_label("Selected values").get_by_title(re.compile(r"\((lr|nb)\)"))
    ).to_have_count(2)

    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.get_by_text("Version 1.0 saved")).to_be_visible(timeout=120_000)
    expect(page.get_by_test_id("stMetric").filter(has_text="Models done")).to_contain_text("2 of 2")
    board = page.locator(".js-plotly-plot").filter(has_text="Models by AUC").first
    expect(board).to_be_visible()
    expect(board.locator(".bars .point")).to_have_count(2)

    page.get_by_role("link", name="Compare it on the Leaderboards page").click()
    expect(page.get_by_role("heading", name="Leaderboards")).to_be_visible()
    # Compare versions is open first: the bar chart of models, and the heatmap beside it
    # that names the metric too
    expect(page.locator(".js-plotly-plot").filter(has_text="Models by AUC").first).to_be_visible()
    open_tab(page, "One version in detail")
    expect(page.locator(".js-plotly-plot").filter(has_text="ROC curve")).to_be_visible()
