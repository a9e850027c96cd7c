"""Users (admins): add users, change roles, set passwords, remove users, make and revoke
API keys. Every change lands in the audit log shown on Home."""

import streamlit as st

from core.auth import (
    ROLES,
    AccessDenied,
    UserError,
    add_user,
    list_users,
    new_key,
    remove_user,
    revoke_key,
    set_password,
    set_role,
)
from core.db.engine import DatabaseError
from dashboard.access import users_table, verified
from dashboard.components import engine, stop_with

# Messages a callback leaves for the run it causes: (kind, text).
MESSAGE = "users_message"
NEW_KEY = "users_new_key"

st.title("Users")
st.caption(
    "Who may sign in to the dashboard and call the API, with which role: viewers explore and "
    "see models, analysts also score and train, admins also load data, choose the champion "
    "and manage users."
)


def act(done: str, change, *args) -> bool:
    """Run a core change as the signed-in admin (checked afresh: callbacks run before the
    shell); leave `done` or the refusal for the page."""
    try:
        change(engine(), *args, actor=verified())
    except (UserError, AccessDenied, DatabaseError) as exc:
        st.session_state[MESSAGE] = ("error", f"Nothing was changed: {exc}")
        return False
    st.session_state[MESSAGE] = ("success", done)
    return True


def add() -> None:
    name = st.session_state["users_add_name"].strip()
    role = st.session_state["users_add_role"]
    password = st.session_state["users_add_password"]
    if password != st.session_state["users_add_again"]:
        st.session_state[MESSAGE] = ("error", "Nothing was changed: the two passwords differ.")
        return
    if act(f"Added {name} as {role}.", add_user, name, password, role):
        for key in ("users_add_name", "users_add_password", "users_add_again"):
            st.session_state[key] = ""


def change_role() -> None:
    name, role = st.session_state["users_role_name"], st.session_state["users_role_role"]
    act(f"{name} is now {role}.", set_role, name, role)


def change_password() -> None:
    name = st.session_state["users_password_name"]
    password = st.session_state["users_password_new"]
    if password != st.session_state["users_password_again"]:
        st.session_state[MESSAGE] = ("error", "Nothing was changed: the two passwords differ.")
        return
    if act(f"New password set for {name}; a lock is lifted.", set_password, name, password):
        st.session_state["users_password_new"] = st.session_state["users_password_again"] = ""


def remove() -> None:
    name = st.session_state["users_remove_name"]
    act(f"Removed {name} and their API keys.", remove_user, name)
    st.session_state["users_remove_sure"] = False


def make_key() -> None:
    name = st.session_state["users_key_name"]
    try:
        key = new_key(engine(), name, actor=verified())
    except (UserError, AccessDenied, DatabaseError) as exc:
        st.session_state[MESSAGE] = ("error", f"No key was made: {exc}")
        return
    st.session_state[NEW_KEY] = (name, key)


def revoke() -> None:
    prefix = st.session_state["users_revoke_prefix"].strip()
    try:
        owner = revoke_key(engine(), prefix, actor=verified())
    except (UserError, AccessDenied, DatabaseError) as exc:
        st.session_state[MESSAGE] = ("error", f"Nothing was revoked: {exc}")
        return
    st.session_state[MESSAGE] = ("success", f"Revoked {owner}'s key {prefix}.")
    st.session_state["users_revoke_prefix"] = ""


kind, text = st.session_state.pop(MESSAGE, (None, None))
if kind:
    getattr(st, kind)(text)
if NEW_KEY in st.session_state:
    owner, key = st.session_state.pop(NEW_KEY)  # shown this once
    st.success(
        f"A new API key for {owner}. Copy it now: it is shown only this once, and only its "
        "hash is stored. Send it as `Authorization: Bearer KEY`."
    )
    st.code(key, language=None)

try:
    users = list_users(engine())
except DatabaseError as exc:
    stop_with(exc)
if not users:
    st.info(
        "Adding the first user turns access control on: make it an admin, then sign in with "
        "it (or add one with `python -m core users add NAME --role admin`)."
    )
names = [user.name for user in users]
st.dataframe(users_table(users), hide_index=True, key="users_table")

add_column, role_column = st.columns(2)
with add_column.form("users_add", border=True):
    st.markdown("**Add a user**")
    st.text_input("Name", key="users_add_name", max_chars=100)
    st.selectbox("Role", ROLES, key="users_add_role")
    st.text_input("Password (8 characters or more)", type="password", key="users_add_password")
    st.text_input("Password again", type="password", key="users_add_again")
    st.form_submit_button("Add user", key="users_add_submit", on_click=add)

with role_column.container(border=True):
    st.markdown("**Change a role**")
    st.selectbox("User", names, key="users_role_name")
    st.selectbox("New role", ROLES, key="users_role_role")
    st.button("Change role", key="users_role_set", on_click=change_role)

password_column, remove_column = st.columns(2)
with password_column.form("users_password", border=True):
    st.markdown("**Set a password** (also lifts a lock after failed logins)")
    st.selectbox("User", names, key="users_password_name")
    st.text_input("New password", type="password", key="users_password_new")
    st.text_input("New password again", type="password", key="users_password_again")
    st.form_submit_button("Set password", key="users_password_set", on_click=change_password)

with remove_column.container(border=True):
    st.markdown("**Remove a user** (and their API keys)")
    st.selectbox("User", names, key="users_remove_name")
    sure = st.checkbox("Yes, remove this user", key="users_remove_sure")
    st.button("Remove user", key="users_remove", disabled=not sure, on_click=remove)

st.subheader("API keys")
st.caption(
    "A key lets a program call the REST API with its owner's role. The key is shown once when "
    "it is made; the audit log on Home names each key by its prefix (the 8 characters after "
    "`ck_`), which is what revoking asks for."
)
key_column, revoke_column = st.columns(2)
with key_column.container(border=True):
    st.selectbox("User", names, key="users_key_name")
    st.button("Make an API key", key="users_key_make", on_click=make_key)
with revoke_column.container(border=True):
    st.text_input("Key prefix (ck_xxxxxxxx)", key="users_revoke_prefix", max_chars=80)
    st.button("Revoke key", key="users_revoke", on_click=revoke)
