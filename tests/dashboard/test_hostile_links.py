"""Hostile links on every page: whatever a link's parameters hold, the page opens without an
exception, and a page that reads a parameter names the value it ignored."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.explore.filters import shown
from dashboard.components import escape_markdown
from tests.dashboard.conftest import APP

# Every parameter a page reads, and the pages that read it.
FILTERS = ("sex", "education", "marriage", "age", "limit", "defaulted")
READS = {
    "../pages/home.py": (),
    "../pages/clients.py": (*FILTERS, "client"),
    "../pages/payments.py": FILTERS,
    "../pages/train.py": (),
    "../pages/leaderboards.py": (),
    "../pages/score.py": (),
    "../pages/decisions.py": (),
}
HOSTILE = {
    "superscript two": "²",  # "²".isdigit() is True, int("²") raises
    "Arabic-Indic digits": "١٢",  # int("١٢") is 12
    "10,000 digits": "9" * 10_000,  # int() refuses more than 4,300 digits
    "negative": "-5",
    "empty": "",
    "a very long string": "x" * 50_000,  # Streamlit drops a query string past 524,288
    "a script tag": "<script>alert(1)</script>",
    "a markdown link": "[verify your account](https://example.com/login)",
    "a NUL byte": "a\x00b",
}


def expected_message(name: str, value: str) -> str:
    """The start of the message naming the ignored value, as the page shows it."""
    return escape_markdown(f"{name}={shown(value.strip())} was ignored")


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.parametrize("page", READS)
def test_a_hostile_link_opens_the_page_and_names_what_it_ignored(
    loaded_sqlite, settings_env, page, case
):
    settings_env(DATABASE_URL=loaded_sqlite)
    app = AppTest.from_file(APP, default_timeout=60)
    value = HOSTILE[case]
    app.query_params.update({name: value for name in (*FILTERS, "client")})
    app.switch_page(page).run()

    assert not app.exception
    assert not app.error
    warnings = "\n".join(w.value for w in app.warning)
    for name in READS[page]:
        if name in ("sex", "education", "marriage") and value == "-5":
            message = escape_markdown(f"{name}='-5' was ignored: {name}: -5 is not a code")
        else:
            message = expected_message(name, value)
        assert message in warnings, f"{name}: {message!r} not in {warnings!r}"
    if not READS[page]:
        assert not app.warning
    if page.endswith("clients.py"):
        assert app.number_input(key="lookup_id").value is None


@pytest.mark.parametrize("page", ["../pages/clients.py", "../pages/payments.py"])
def test_a_repeated_parameter_counts_once_and_says_so(loaded_sqlite, settings_env, page):
    settings_env(DATABASE_URL=loaded_sqlite)
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params.update({"sex": ["1", "2"], "client": ["3", "9"]})
    app.switch_page(page).run()
    assert not app.exception
    warnings = "\n".join(w.value for w in app.warning)
    assert escape_markdown("sex appears 2 times in the link: the last one counts, '1'") in warnings
    assert app.multiselect(key="filter_sex").value == [2]
    if page.endswith("clients.py"):
        assert escape_markdown("client appears 2 times in the link") in warnings
        assert app.number_input(key="lookup_id").value == 9


def test_a_link_value_cannot_make_a_link_in_the_warning():
    text = escape_markdown("[verify](https://example.com) <b>x</b> :red[y] $z$ www.example.com")
    for made in ("[verify](", "<b>", ":red[", "$z$", "www.example"):
        assert made not in text
