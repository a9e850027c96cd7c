"""AppTest of access control in the dashboard: the login form before anything else, wrong
passwords and locks, sessions that expire, logout, pages and buttons by role (refused in
core too), the admins' Users page and the audit log on Home, and the notice on every page
while access control is off."""

from __future__ import annotations

import re
import secrets
import shutil
import time
from datetime import UTC, datetime, timedelta

import pytest

from core import jobs
from core.auth import (
    ACTIONS,
    ROLES,
    SYSTEM,
    Actor,
    Entry,
    LoginError,
    UserInfo,
    add_user,
    authenticate,
    key_actor,
    list_users,
    remove_user,
    set_role,
)
from core.auth.users import LOCK_AFTER
from core.db.engine import make_engine
from core.ml.registry import list_versions
from dashboard.access import (
    PAGES,
    SEEN,
    audit_table,
    users_table,
    visible_pages,
)
from tests.core.test_registry import store as save_model
from tests.dashboard.charts import metrics, open_tab, texts

# Made per run: no password is written in the tests.
PASSWORD = secrets.token_urlsafe(12)
USERS = {"viewer": "vera", "analyst": "andy", "admin": "ada"}
NAVIGATION = {
    "viewer": ["Home", "Clients", "Payments", "Leaderboards", "Decisions"],
    "analyst": ["Home", "Clients", "Payments", "Train", "Leaderboards", "Score", "Decisions"],
    "admin": [
        "Home",
        "Clients",
        "Payments",
        "Train",
        "Leaderboards",
        "Score",
        "Decisions",
        "Users",
    ],
}
# Buttons that need more than seeing the page: page -> (key, the role it needs). A button
# below its role is either absent (Home's data load) or shown disabled.
BUTTONS = {
    "home.py": ("upload_load", "admin"),
    "leaderboards.py": ("lb_champion", "admin"),
    "train.py": ("train_submit", "analyst"),
    "score.py": ("score_submit", "analyst"),
}
# The tab a button is drawn in, where the page draws only the open tab: page -> (key, label).
TABS = {"leaderboards.py": ("lb_view", "One version in detail")}


def copy_with_users(source_url: str, folder) -> str:
    """A private copy of a SQLite database with one user per role."""
    target = folder / "guarded.db"
    shutil.copyfile(source_url.removeprefix("sqlite:///"), target)
    url = f"sqlite:///{target}"
    engine = make_engine(url)
    for role, name in USERS.items():
        add_user(engine, name, PASSWORD, role, actor=SYSTEM)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def guarded_db(tmp_path_factory, loaded_sqlite):
    """The real data, a user per role and two model versions (none is the champion); for
    tests that change no user."""
    url = copy_with_users(loaded_sqlite, tmp_path_factory.mktemp("guarded"))
    engine = make_engine(url)
    save_model(engine, "1.0")
    save_model(engine, "1.1")
    yield url
    jobs.stop_local_worker(engine)
    engine.dispose()


@pytest.fixture
def private_db(tmp_path, loaded_sqlite):
    """Returns (url, engine): a copy of the real data with a user per role, for one test."""
    url = copy_with_users(loaded_sqlite, tmp_path)
    engine = make_engine(url)
    yield url, engine
    jobs.stop_local_worker(engine)
    engine.dispose()


def widget(app, kind: str, key: str):
    """The widget of `kind` with `key` on the page, or None."""
    return next((w for w in app.get(kind) if w.key == key), None)


def frame(app, column: str):
    """The table on the page that has `column` (AppTest does not give tables their keys)."""
    found = [d.value for d in app.dataframe if column in d.value.columns]
    assert found, f"no table with a column {column!r} on the page"
    return found[0]


def sign_in(app, name: str, password: str = PASSWORD):
    app.text_input(key="login_name").input(name)
    app.text_input(key="login_password").input(password)
    return app.button(key="login_submit").click().run()


def signed_in(dashboard, url: str, name: str, **env: str):
    app = sign_in(dashboard(DATABASE_URL=url, **env), name)
    assert not app.exception
    assert widget(app, "text_input", "login_name") is None, texts(app.error)
    return app


def shows_login(app) -> bool:
    return (
        widget(app, "text_input", "login_name") is not None
        and widget(app, "text_input", "login_password") is not None
        and not app.metric
        and not app.dataframe
        and not app.sidebar.children
    )


def refusals(app) -> list[str]:
    return [e.value for e in app.error if "page needs the" in e.value]


# --- The login form -------------------------------------------------------------------------


def test_the_first_run_shows_only_the_login_form(dashboard, guarded_db):
    app = dashboard(DATABASE_URL=guarded_db)
    assert not app.exception
    assert [t.value for t in app.title] == ["Credit default dashboard"]
    assert [s.value for s in app.subheader] == ["Sign in"]
    assert [w.key for w in app.text_input] == ["login_name", "login_password"]
    assert [b.key for b in app.button] == ["login_submit"]
    # No data, no sidebar (no navigation, settings, database or notice), nothing else.
    assert not app.metric and not app.dataframe and not app.sidebar.children
    assert not app.warning and not app.caption and not app.get("plotly_chart")
    assert "login_name" in app.session_state and "auth_user" not in app.session_state


@pytest.mark.parametrize(
    "name, password",
    [
        ("vera", "not her password"),
        ("nobody", PASSWORD),
        ("", PASSWORD),
        ("ve\x00ra", PASSWORD),  # Postgres refuses NUL in text: never sent
        ("vera", ""),
        ("vera", "x" * 5000),
    ],
)
def test_a_wrong_name_or_password_is_refused_with_core_s_message(
    dashboard, guarded_db, name, password
):
    app = sign_in(dashboard(DATABASE_URL=guarded_db), name, password)
    assert not app.exception
    assert texts(app.error) == "Not signed in: wrong user name or password."
    assert shows_login(app)
    # The next try is slowed down (the session remembers the failure) and then succeeds.
    assert app.session_state["auth_failed"] is True
    app = sign_in(app, "vera")
    assert not app.error and metrics(app)["Clients"] == "24,000"


@pytest.mark.parametrize("name", ["ve\x00ra", "x" * 5000, "vera\n"])
def test_names_no_user_can_have_are_refused_on_both_databases(dashboard, engine, name):
    add_user(engine, "vera", PASSWORD, "viewer", actor=SYSTEM)
    url = engine.url.render_as_string(hide_password=False)
    app = sign_in(dashboard(DATABASE_URL=url), name)
    assert not app.exception
    assert texts(app.error) == "Not signed in: wrong user name or password."
    app = sign_in(app, "vera")
    assert not app.error and "The database has no clients yet" in texts(app.info)


def test_a_locked_user_is_told_how_long_to_wait(dashboard, private_db):
    url, engine = private_db
    for _ in range(LOCK_AFTER):
        with pytest.raises(LoginError):
            authenticate(engine, "andy", "not his password")
    app = sign_in(dashboard(DATABASE_URL=url), "andy")  # the right password, too soon
    assert re.fullmatch(
        r"Not signed in: too many failed logins: try again in \d+ s\.", texts(app.error)
    )
    assert shows_login(app)


def test_the_right_password_opens_home_with_who_is_signed_in(dashboard, guarded_db):
    app = signed_in(dashboard, guarded_db, "ada")
    assert app.title[0].value == "Credit default dashboard"
    assert metrics(app)["Clients"] == "24,000"
    assert "Signed in as **ada** (admin)" in texts(app.sidebar.caption)
    assert widget(app, "button", "logout") is not None
    assert "Access control is off" not in texts(app.sidebar.caption)
    assert "login_password" not in app.session_state  # the password is not kept


# --- Pages and buttons by role ----------------------------------------------------------------


def test_the_navigation_lists_each_role_s_pages():
    for role in ROLES:
        assert visible_pages(Actor("someone", role)) == NAVIGATION[role]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_opens_its_pages_and_is_refused_the_others(dashboard, guarded_db, role):
    name = USERS[role]
    app = signed_in(dashboard, guarded_db, name)
    for page in PAGES:
        app.switch_page(f"../pages/{page.file}").run()
        assert not app.exception, page.title
        if page.title not in NAVIGATION[role]:
            # Opened by URL: refused by the shell, the page itself never runs.
            assert refusals(app) == [
                f"The {page.title} page needs the {ACTIONS[page.action]} role; you are signed in "
                f"as {name} ({role})."
            ]
            assert not app.title and not app.metric and not app.dataframe
            continue
        assert not refusals(app), page.title
        if page.file not in BUTTONS:
            continue
        if page.file in TABS:
            open_tab(app, *TABS[page.file])
        key, least = BUTTONS[page.file]
        button = widget(app, "button", key)
        allowed = ROLES.index(role) >= ROLES.index(least)
        if page.file == "home.py":
            assert (button is not None) == allowed
        else:
            assert button is not None, (page.title, key)
            assert button.disabled == (not allowed), (page.title, key)
        if not allowed:
            assert f"you need the {least} role" in texts(app.caption), page.title


def test_a_viewer_forcing_the_users_page_sees_no_user(dashboard, guarded_db):
    app = signed_in(dashboard, guarded_db, "vera")
    app.switch_page("../pages/users.py").run()
    assert refusals(app) == [
        "The Users page needs the admin role; you are signed in as vera (viewer)."
    ]
    assert widget(app, "text_input", "users_add_name") is None
    assert "andy" not in texts(app.markdown) and not app.dataframe


def test_the_admin_makes_a_champion_and_the_audit_log_names_them(dashboard, private_db):
    url, engine = private_db
    save_model(engine, "1.0")
    app = signed_in(dashboard, url, "ada")
    app.switch_page("../pages/leaderboards.py").run()
    open_tab(app, *TABS["leaderboards.py"])
    app.button(key="lb_champion").click().run()
    assert not app.exception and not app.error
    assert [v.version for v in list_versions(engine) if v.is_champion] == ["1.0"]
    app.switch_page("../pages/home.py").run()
    log = frame(app, "Who")
    assert log.iloc[0][["Who", "What", "Detail"]].tolist() == [
        "ada",
        "changed the champion",
        "version 1.0 is champion",
    ]


# --- Sessions -------------------------------------------------------------------------------


def test_logout_shows_the_login_form_again(dashboard, guarded_db):
    app = signed_in(dashboard, guarded_db, "andy")
    app.button(key="logout").click().run()
    assert shows_login(app)
    assert texts(app.info) == "You signed out."
    app.switch_page("../pages/home.py")  # still registered from the signed-in run
    assert shows_login(app.run())


def test_an_idle_session_expires_after_the_setting(dashboard, guarded_db):
    app = signed_in(dashboard, guarded_db, "andy", SESSION_IDLE_MINUTES="5")
    app.session_state[SEEN] = time.time() - 4 * 60  # within the idle time: still signed in
    app.run()
    assert metrics(app)["Clients"] == "24,000"
    app.session_state[SEEN] = time.time() - 6 * 60
    app.run()
    assert shows_login(app)
    assert texts(app.info) == (
        "Your session expired after 5 minutes without activity: sign in again."
    )


def test_the_default_idle_time_is_30_minutes(dashboard, guarded_db):
    app = signed_in(dashboard, guarded_db, "andy")
    app.session_state[SEEN] = time.time() - 31 * 60
    app.run()
    assert shows_login(app)
    assert "Your session expired after 30 minutes without activity" in texts(app.info)


def test_a_removed_user_is_signed_out_on_the_next_rerun(dashboard, private_db):
    url, engine = private_db
    app = signed_in(dashboard, url, "andy")
    remove_user(engine, "andy", actor=SYSTEM)
    app.run()
    assert shows_login(app)
    assert texts(app.info) == "You were signed out: the user andy no longer exists."


def test_a_changed_role_applies_at_once(dashboard, private_db):
    url, engine = private_db
    app = signed_in(dashboard, url, "andy")
    app.switch_page("../pages/train.py").run()
    assert not refusals(app) and not app.button(key="train_submit").disabled
    set_role(engine, "andy", "viewer", actor=SYSTEM)
    app.run()
    assert refusals(app) == [
        "The Train page needs the analyst role; you are signed in as andy (viewer)."
    ]
    assert "Signed in as **andy** (viewer)" in texts(app.sidebar.caption)


def test_a_callback_after_a_demotion_is_refused_by_core(dashboard, private_db):
    """Widget callbacks run before the shell re-reads the role: core refuses them anyway."""
    url, engine = private_db
    add_user(engine, "root", PASSWORD, "admin", actor=SYSTEM)
    app = signed_in(dashboard, url, "ada")
    app.switch_page("../pages/users.py").run()
    set_role(engine, "ada", "analyst", actor=SYSTEM)
    app.text_input(key="users_add_name").input("eve")
    app.text_input(key="users_add_password").input(PASSWORD)
    app.text_input(key="users_add_again").input(PASSWORD)
    app.button(key="users_add_submit").click().run()
    assert not app.exception
    assert "eve" not in [u.name for u in list_users(engine)]
    assert refusals(app) == [
        "The Users page needs the admin role; you are signed in as ada (analyst)."
    ]


def test_a_click_after_the_session_expired_changes_nothing(dashboard, private_db):
    url, engine = private_db
    app = signed_in(dashboard, url, "ada")
    app.switch_page("../pages/users.py").run()
    app.selectbox(key="users_remove_name").set_value("vera")
    app.checkbox(key="users_remove_sure").check().run()
    app.session_state[SEEN] = time.time() - 31 * 60
    app.button(key="users_remove").click().run()
    assert shows_login(app)
    assert "vera" in [u.name for u in list_users(engine)]


# --- Managing users -------------------------------------------------------------------------


def test_an_admin_adds_a_user_makes_and_revokes_a_key_and_removes_the_user(dashboard, private_db):
    url, engine = private_db
    app = signed_in(dashboard, url, "ada")
    app.switch_page("../pages/users.py").run()
    assert frame(app, "Last login (UTC)")["Name"].tolist() == ["ada", "andy", "vera"]

    app.text_input(key="users_add_name").input("nina")
    app.selectbox(key="users_add_role").set_value("analyst")
    app.text_input(key="users_add_password").input(PASSWORD)
    app.text_input(key="users_add_again").input(PASSWORD + "x")
    app.button(key="users_add_submit").click().run()
    assert texts(app.error) == "Nothing was changed: the two passwords differ."
    app.text_input(key="users_add_password").input(PASSWORD)
    app.text_input(key="users_add_again").input(PASSWORD)
    app.button(key="users_add_submit").click().run()
    assert not app.exception and texts(app.success) == "Added nina as analyst."
    table = frame(app, "Last login (UTC)")
    assert table.set_index("Name").loc["nina", "Role"] == "analyst"
    assert authenticate(engine, "nina", PASSWORD) == Actor("nina", "analyst")

    app.selectbox(key="users_key_name").set_value("nina")
    app.button(key="users_key_make").click().run()
    [code] = app.code
    key = code.value
    assert key.startswith("ck_") and "shown only this once" in texts(app.success)
    assert key_actor(engine, key) == Actor("nina", "analyst")
    app.run()
    assert not app.code  # shown once
    assert frame(app, "Last login (UTC)").set_index("Name").loc["nina", "API keys"] == 1

    prefix = key[:11]
    app.text_input(key="users_revoke_prefix").input(prefix)
    app.button(key="users_revoke").click().run()
    assert texts(app.success) == f"Revoked nina's key {prefix}."
    assert key_actor(engine, key) is None

    app.selectbox(key="users_role_name").set_value("nina")
    app.selectbox(key="users_role_role").set_value("viewer")
    app.button(key="users_role_set").click().run()
    assert texts(app.success) == "nina is now viewer."

    app.selectbox(key="users_remove_name").set_value("nina")
    assert app.button(key="users_remove").disabled  # until confirmed
    app.checkbox(key="users_remove_sure").check().run()
    app.button(key="users_remove").click().run()
    assert texts(app.success) == "Removed nina and their API keys."
    assert [u.name for u in list_users(engine)] == ["ada", "andy", "vera"]

    app.switch_page("../pages/home.py").run()
    log = frame(app, "Who")
    assert log[["Who", "What", "Detail"]].values.tolist()[:5] == [
        ["ada", "removed a user", "nina"],
        ["ada", "changed a role", "nina is now viewer"],
        ["ada", "revoked an API key", f"nina: key {prefix[3:]}"],
        ["ada", "made an API key", f"nina: key {prefix[3:]}"],
        ["ada", "added a user", "nina as analyst"],
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", w) for w in log["When (UTC)"])


def test_core_s_refusals_show_as_messages(dashboard, private_db):
    url, engine = private_db
    app = signed_in(dashboard, url, "ada")
    app.switch_page("../pages/users.py").run()
    app.text_input(key="users_add_name").input("andy")  # taken
    app.text_input(key="users_add_password").input(PASSWORD)
    app.text_input(key="users_add_again").input(PASSWORD)
    app.button(key="users_add_submit").click().run()
    assert texts(app.error) == "Nothing was changed: a user named 'andy' already exists"
    app.selectbox(key="users_role_name").set_value("ada")
    app.selectbox(key="users_role_role").set_value("viewer")
    app.button(key="users_role_set").click().run()
    assert "that is the last admin" in texts(app.error)
    app.text_input(key="users_revoke_prefix").input("ck_00000000")
    app.button(key="users_revoke").click().run()
    assert texts(app.error) == "Nothing was revoked: no live API key starts with ck_00000000"
    assert not app.exception


# --- Access control off ---------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.title)
def test_without_users_every_page_says_access_control_is_off(dashboard, loaded_sqlite, page):
    app = dashboard(f"../pages/{page.file}", DATABASE_URL=loaded_sqlite)
    try:
        assert not app.exception
        notice = texts(app.sidebar.caption)
        assert "**Access control is off**]: anyone who can open this address" in notice
        assert "python -m core users add NAME --role admin" in notice
        assert not refusals(app) and widget(app, "text_input", "login_name") is None
        assert app.title[0].value != "Sign in"
    finally:
        jobs.stop_local_worker(make_engine(loaded_sqlite))


def test_make_run_binds_the_dashboard_to_localhost():
    from tests.conftest import ROOT

    run = (ROOT / "Makefile").read_text().split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "streamlit run" in run and "--server.address 127.0.0.1" in run


# --- The tables -----------------------------------------------------------------------------


def test_the_audit_table_reads_as_words_with_plain_times():
    at = datetime(2026, 12, 1, 9, 5, 7, tzinfo=UTC)
    table = audit_table(
        [
            Entry(at, "ada", "key_made", "nina: key 1a2b3c4d"),
            Entry(at, "system", "something_new", ""),
        ]
    )
    assert table.values.tolist() == [
        ["2026-12-01 09:05:07", "ada", "made an API key", "nina: key 1a2b3c4d"],
        ["2026-12-01 09:05:07", "system", "something new", ""],
    ]


def test_the_users_table_shows_a_lock_only_while_it_lasts():
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    made = now - timedelta(days=2)

    def user(name, locked_until, last_login):
        return UserInfo(name, "viewer", made, last_login, 5, locked_until, 0)

    table = users_table(
        [
            user("locked", now + timedelta(seconds=30), None),
            user("was", now - timedelta(seconds=1), now - timedelta(hours=1)),
        ],
        at=now,
    )
    assert table["Locked until (UTC)"].tolist() == ["2026-12-01 09:00:30", ""]
    assert table["Last login (UTC)"].tolist() == ["never", "2026-12-01 08:00:00"]
    assert table["Added (UTC)"].tolist() == ["2026-11-29 09:00:00"] * 2
