"""`python -m core users ...` as an admin runs it, in a subprocess: passwords from stdin,
never from arguments; an API key printed once, alone on the last line."""

from core.auth import Actor, authenticate, key_actor, recent
from tests.cli_support import run_cli


def users(database_url: str, *args: str, stdin: str = "", **env: str):
    return run_cli(*args, stdin=stdin, **env, DATABASE_URL=database_url)


def test_add_list_key_role_revoke_remove(database_url, engine):
    empty = users(database_url, "users", "list")
    assert "no users: access control is off" in empty.stdout
    added = users(database_url, "users", "add", "boss", "--role", "admin", stdin="s3cret pass\n")
    assert added.returncode == 0, added.stderr
    assert authenticate(engine, "boss", "s3cret pass") == Actor("boss", "admin")
    users(database_url, "users", "add", "ana", "--role", "viewer", stdin="ana's pass\n")
    made = users(database_url, "users", "key", "ana")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("ck_") and " " not in key
    assert key_actor(engine, key) == Actor("ana", "viewer")
    assert users(database_url, "users", "role", "ana", "analyst").returncode == 0
    listed = users(database_url, "users", "list").stdout.splitlines()
    assert listed[1].split()[:3] == ["ana", "analyst", "1"]
    assert listed[2].split()[:3] == ["boss", "admin", "0"]
    revoked = users(database_url, "users", "revoke", key[:11])
    assert revoked.returncode == 0 and "revoked ana's key" in revoked.stdout
    assert users(database_url, "users", "remove", "ana").returncode == 0
    assert [e.action for e in recent(engine)][:3] == ["user_removed", "key_revoked", "role_changed"]


def test_mistakes_are_one_line_messages(database_url):
    short = users(database_url, "users", "add", "ana", "--role", "viewer", stdin="short\n")
    assert short.returncode == 1
    assert short.stderr.strip() == "error: the password must have 8 to 1024 characters"
    none = users(database_url, "users", "add", "ana", "--role", "viewer", stdin="")
    assert "no password: give it on the first line of stdin" in none.stderr
    missing = users(database_url, "users", "key", "nobody")
    assert missing.stderr.strip() == "error: no user is named 'nobody'"
    bad_role = users(database_url, "users", "add", "ana", "--role", "root", stdin="x" * 9)
    assert bad_role.returncode == 2 and "invalid choice: 'root'" in bad_role.stderr
    assert "Traceback" not in short.stderr + none.stderr + missing.stderr


def test_a_password_is_never_an_argument(database_url):
    given = users(database_url, "users", "add", "ana", "--role", "viewer", "hunter22!")
    assert given.returncode == 2 and "unrecognized arguments" in given.stderr


def test_init_admin_makes_the_first_admin_once(database_url, engine):
    done = users(
        database_url, "users", "init-admin", ADMIN_USER="boss", ADMIN_PASSWORD="first pass"
    )
    assert done.returncode == 0, done.stderr
    assert authenticate(engine, "boss", "first pass") == Actor("boss", "admin")
    again = users(
        database_url, "users", "init-admin", ADMIN_USER="eve", ADMIN_PASSWORD="other pass"
    )
    assert "users exist already" in again.stdout
    unset = users(database_url, "audit")
    assert "user_added" in unset.stdout and "boss as admin" in unset.stdout


def test_init_admin_without_the_settings_says_what_to_set(database_url):
    done = users(database_url, "users", "init-admin", ADMIN_USER="", ADMIN_PASSWORD="")
    assert done.returncode == 1
    assert "set ADMIN_USER and ADMIN_PASSWORD" in done.stderr
