"""A person signs in to the dashboard in Chromium: a wrong password is refused with a message,
the right one opens Home, and a viewer's menu lists only a viewer's pages."""

from __future__ import annotations

import secrets
import shutil

import pytest
from playwright.sync_api import expect

from core.auth import SYSTEM, add_user
from core.db.engine import make_engine

pytestmark = pytest.mark.browser

PASSWORD = secrets.token_urlsafe(12)  # made per run: no password is written in the tests


@pytest.fixture
def guarded_database(loaded_database, tmp_path) -> str:
    """A copy of the real data with a viewer, vera: access control is on."""
    target = tmp_path / "guarded.db"
    shutil.copyfile(loaded_database.removeprefix("sqlite:///"), target)
    url = f"sqlite:///{target}"
    engine = make_engine(url)
    add_user(engine, "vera", PASSWORD, "viewer", actor=SYSTEM)
    engine.dispose()
    return url


def sign_in(page, name: str, password: str) -> None:
    form = page.get_by_test_id("stForm")
    form.get_by_role("textbox", name="User name").fill(name)
    form.get_by_role("textbox", name="Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def test_a_wrong_password_is_refused_and_the_right_one_opens_home(
    page, start_dashboard, guarded_database
):
    url = start_dashboard(DATABASE_URL=guarded_database)
    page.goto(f"{url}/clients")
    expect(page.get_by_text("Sign in", exact=True).first).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
    expect(page.get_by_test_id("stMetric")).to_have_count(0)

    sign_in(page, "vera", "not her password")
    expect(page.get_by_text("Not signed in: wrong user name or password.")).to_be_visible()
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)

    page.goto(url)
    sign_in(page, "vera", PASSWORD)
    clients = page.get_by_test_id("stMetric").filter(has_text="Clients")
    expect(clients).to_contain_text("24,000")
    expect(page.get_by_text("Signed in as vera (viewer)")).to_be_visible()
    links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    expect(links).to_have_count(5)
    expect(links).to_contain_text(["Home", "Clients", "Payments", "Leaderboards", "Decisions"])

    page.goto(f"{url}/users")  # a new browser session: signed out, the form again
    expect(page.get_by_text("Sign in", exact=True).first).to_be_visible()
    expect(page.get_by_test_id("stMetric")).to_have_count(0)
