"""Who is using the dashboard: the login form, sessions that expire, pages and buttons by role.

The shell calls `sign_in()` before `st.navigation`: while access control is on (a user
exists) nothing else renders until someone signs in. Pages ask `current()` for the actor and
pass it to core, which refuses by itself as well.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from core.auth import (
    ACTIONS,
    OPEN,
    AccessDenied,
    Actor,
    Entry,
    LoginError,
    UserInfo,
    access_control_on,
    authenticate,
    describe,
    user_actor,
)
from core.db.engine import DatabaseError
from dashboard.components import engine, settings, stop_with

# Session state: the signed-in user's name, when their last full rerun happened (time.time()),
# the actor pages act as, a message for the next login form, and whether the last try failed.
USER = "auth_user"
SEEN = "auth_seen"
ACTOR = "auth_actor"
NOTE = "auth_note"
FAILED = "auth_failed"
# The pause before the next try after a wrong password (core counts failures and locks).
RETRY_PAUSE_SECONDS = 1.0

OFF_TITLE = "Access control is off"
OFF_NOTICE = (
    "anyone who can open this address can use every page. "
    "Add a user with `python -m core users add NAME --role admin`."
)


@dataclass(frozen=True)
class PageSpec:
    """One page of the navigation and the action (core.auth.ACTIONS) it needs."""

    section: str
    title: str
    icon: str
    file: str
    url: str
    action: str


PAGES = (
    PageSpec("Overview", "Home", ":material/home:", "home.py", "home", "explore"),
    PageSpec("Explore", "Clients", ":material/group:", "clients.py", "clients", "explore"),
    PageSpec("Explore", "Payments", ":material/payments:", "payments.py", "payments", "explore"),
    PageSpec("Models", "Train", ":material/model_training:", "train.py", "train", "train"),
    PageSpec(
        "Models",
        "Leaderboards",
        ":material/leaderboard:",
        "leaderboards.py",
        "leaderboards",
        "view_models",
    ),
    PageSpec("Models", "Score", ":material/speed:", "score.py", "score", "score"),
    PageSpec(
        "Models", "Decisions", ":material/balance:", "decisions.py", "decisions", "view_models"
    ),
    PageSpec("Admin", "Users", ":material/manage_accounts:", "users.py", "users", "manage_users"),
)


def visible_pages(actor: Actor) -> list[str]:
    """The titles of the pages `actor` sees in the navigation, in menu order."""
    return [page.title for page in PAGES if actor.may(page.action)]


def needs(action: str) -> str:
    """A caption for a control the current actor may not use: which role it needs."""
    return f"To {describe(action)} you need the {ACTIONS[action]} role."


def refusal(page: PageSpec, actor: Actor) -> str:
    """Why `actor` may not open `page`."""
    return (
        f"The {page.title} page needs the {ACTIONS[page.action]} role; you are signed in as "
        f"{actor.name} ({actor.role})."
    )


# --- Signing in ---------------------------------------------------------------------------


def sign_in() -> Actor:
    """The actor of this rerun. While access control is on and nobody is signed in (or the
    session expired, or the user was removed), show the login form and end the run."""
    try:
        on = access_control_on(engine())
    except DatabaseError as exc:
        stop_with(exc)
    if not on:
        for key in (USER, SEEN, NOTE, FAILED):
            st.session_state.pop(key, None)
        st.session_state[ACTOR] = OPEN
        return OPEN
    actor = _session_actor()
    if actor is None:
        st.session_state.pop(ACTOR, None)
        login_form()
        st.stop()
    st.session_state[ACTOR] = actor
    return actor


def _session_actor() -> Actor | None:
    """The signed-in user as they are now, or None (then NOTE may say why)."""
    name = st.session_state.get(USER)
    if name is None:
        return None
    if _expired():
        idle = settings().session_idle_minutes
        sign_out(f"Your session expired after {idle} minutes without activity: sign in again.")
        return None
    try:
        actor = user_actor(engine(), name)
    except DatabaseError as exc:
        stop_with(exc)
    if actor is None:
        sign_out(f"You were signed out: the user {name} no longer exists.")
        return None
    st.session_state[SEEN] = time.time()
    return actor


def sign_out(note: str = "You signed out.") -> None:
    """Forget the signed-in user; the next login form shows `note`."""
    for key in (USER, SEEN, ACTOR):
        st.session_state.pop(key, None)
    st.session_state[NOTE] = note


def login_form() -> None:
    """The title and a name/password form, nothing else."""
    _, middle, _ = st.columns([1, 2, 1])
    with middle:
        st.title("Credit default dashboard")
        st.subheader("Sign in")
        note = st.session_state.pop(NOTE, None)
        if note:
            st.info(note)
        with st.form("login"):
            name = st.text_input("User name", key="login_name", max_chars=100)
            password = st.text_input("Password", type="password", key="login_password")
            submitted = st.form_submit_button("Sign in", key="login_submit", type="primary")
        if submitted:
            _try_login(name, password)


def _try_login(name: str, password: str) -> None:
    if st.session_state.get(FAILED):
        time.sleep(RETRY_PAUSE_SECONDS)
    try:
        actor = authenticate(engine(), name, password)
    except LoginError as exc:
        st.session_state[FAILED] = True
        st.error(f"Not signed in: {exc}.")
        return
    except DatabaseError as exc:
        st.error(f"Signing in is not possible right now: {exc}")
        return
    st.session_state.pop(FAILED, None)
    st.session_state[USER] = actor.name
    st.session_state[SEEN] = time.time()
    st.rerun()


def verified() -> Actor:
    """The actor as the database knows them now, for widget callbacks: a callback runs
    before the shell checks the session, so it must not trust the previous run's actor.
    AccessDenied when nobody is signed in or the session expired; DatabaseError passes."""
    if not access_control_on(engine()):
        return OPEN
    name = st.session_state.get(USER)
    if name is None or _expired():
        raise AccessDenied("you are not signed in (or your session expired): sign in again")
    actor = user_actor(engine(), name)
    if actor is None:
        raise AccessDenied(f"the user {name} no longer exists")
    return actor


def _expired() -> bool:
    idle = settings().session_idle_minutes
    return time.time() - st.session_state.get(SEEN, 0.0) > idle * 60


def current() -> Actor:
    """The actor the shell signed in for this run (OPEN while access control is off)."""
    actor = st.session_state.get(ACTOR)
    if actor is None:
        st.error("Sign in first: open the dashboard's address.")
        st.stop()
    return actor


def sidebar() -> None:
    """Who is signed in and a Logout button, or the notice that access control is off."""
    name = st.session_state.get(USER)
    if name is None:
        # A caption, not st.warning: pages keep their own warnings to themselves.
        st.caption(f":orange[**{OFF_TITLE}**]: {OFF_NOTICE}")
        return
    actor = current()
    st.caption(f"Signed in as **{actor.name}** ({actor.role})")
    st.button("Log out", key="logout", on_click=sign_out)


def show_refusal(exc: AccessDenied) -> None:
    """A refusal from core as a sentence on the page."""
    st.error(f"Not allowed: {exc}.")


# --- Tables for admins --------------------------------------------------------------------

ACTION_WORDS = {
    "data_loaded": "loaded data",
    "training_submitted": "queued training",
    "champion_changed": "changed the champion",
    "policy_set": "set a policy threshold",
    "user_added": "added a user",
    "user_removed": "removed a user",
    "role_changed": "changed a role",
    "password_set": "set a password",
    "key_made": "made an API key",
    "key_revoked": "revoked an API key",
}


def _when(value) -> str:
    return "" if value is None else f"{value:%Y-%m-%d %H:%M:%S}"


def audit_table(entries: list[Entry]) -> pd.DataFrame:
    """The audit log (core.auth.recent, newest first) as Home shows it: times in UTC without
    an offset, actions in words."""
    return pd.DataFrame(
        {
            "When (UTC)": [_when(e.at) for e in entries],
            "Who": [e.actor for e in entries],
            "What": [ACTION_WORDS.get(e.action, e.action.replace("_", " ")) for e in entries],
            "Detail": [e.detail for e in entries],
        }
    )


def users_table(users: list[UserInfo], at: datetime | None = None) -> pd.DataFrame:
    """The users (core.auth.list_users) as the Users page shows them; a lock shows while it
    lasts at `at` (now by default)."""
    at = at or datetime.now(UTC)

    def locked(user: UserInfo) -> str:
        return _when(user.locked_until) if user.locked_until and user.locked_until > at else ""

    return pd.DataFrame(
        {
            "Name": [u.name for u in users],
            "Role": [u.role for u in users],
            "API keys": [u.keys for u in users],
            "Last login (UTC)": [_when(u.last_login_at) or "never" for u in users],
            "Failed logins": [u.failed_logins for u in users],
            "Locked until (UTC)": [locked(u) for u in users],
            "Added (UTC)": [_when(u.created_at) for u in users],
        }
    )
