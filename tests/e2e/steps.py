"""Steps several browser tests take the same way: pick fast models on the Train page, fill
the Score form from a client in the data and score it; open a tab."""

from __future__ import annotations

import re

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect


def choose_fast_training(page, models: tuple[str, ...]) -> None:
    """On the Train page: 2 folds and only `models` (their labels, "Naive Bayes (nb)")."""
    expect(page.get_by_role("heading", name="Train models")).to_be_visible()
    folds = page.get_by_role("slider", name="Cross-validation folds")
    folds.focus()
    folds.press("Home")  # the minimum: 2 folds
    expect(page.get_by_test_id("stSliderThumbValue").first).to_have_text("2")
    chosen = page.get_by_test_id("stMultiSelect").filter(has_text="Models")
    chosen.get_by_role("button", name="Clear all").click()
    box = chosen.get_by_role("combobox", name="Models")
    for name in models:
        box.click()
        box.fill(name.split(" (")[0])
        page.get_by_role("option", name=name).click()
    page.keyboard.press("Escape")


def score_client_in_form(page, client_id: int) -> None:
    """On the Score page: fill the form from client `client_id` and press Score."""
    expect(page.get_by_role("heading", name="Score clients")).to_be_visible()
    field = page.get_by_label("Start from a client in the data (id)")
    field.fill(str(client_id))
    field.press("Enter")
    page.get_by_role("button", name="Fill from client").click()
    expect(page.get_by_text(f"Filled in client {client_id}.")).to_be_visible()
    page.get_by_role("button", name="Score", exact=True).click()


def pick_option(page, label: str, starts_with: str) -> None:
    """Choose, in the select box labelled `label`, the option whose text starts with
    `starts_with`. Typing only the start is not enough: Streamlit filters options fuzzily,
    so "1.0 ·" also matches "1.1 · … AUC 0.667 · …" and Enter may take that one. Clicking the
    option is not either: scrolling it into view closes the list. So: open the list (again
    if a rerun closed it), read the option's whole text, type it (it matches that option
    alone) and press Enter."""
    box = page.get_by_test_id("stSelectbox").filter(has_text=label).get_by_role("combobox")
    option = page.get_by_role("option").filter(has_text=re.compile("^" + re.escape(starts_with)))
    for _ in range(10):
        box.click()
        try:
            text = option.inner_text(timeout=3_000)
            break
        except PlaywrightTimeoutError:
            page.keyboard.press("Escape")
    else:
        raise AssertionError(f"no option starting {starts_with!r} in the select box {label!r}")
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    expect(box).to_have_value(text)


def open_tab(page, label: str) -> None:
    """Open the tab `label`. The pages draw a tab's contents only while it is open, so
    opening one reruns the page; the caller waits for what the tab shows."""
    tab = page.get_by_role("tab", name=label, exact=True)
    tab.click()
    expect(tab).to_have_attribute("aria-selected", "true")
