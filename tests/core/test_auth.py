"""Access control in core, on SQLite and Postgres: users, passwords, lockout, API keys, the
role table for every action core refuses, and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from core import jobs
from core.auth import (
    ACTIONS,
    OPEN,
    ROLES,
    SYSTEM,
    AccessDenied,
    Actor,
    LoginError,
    UserError,
    access_control_on,
    add_user,
    authenticate,
    key_actor,
    list_users,
    lock_seconds,
    new_key,
    recent,
    remove_user,
    require,
    revoke_key,
    set_password,
    set_role,
    user_actor,
)
from core.auth.users import LOCK_AFTER
from core.cache import MemoryStore
from core.data.publish import publish_file
from core.db.schema import ApiKey, User
from core.ml.registry import get_version, set_champion
from tests.core.test_registry import store as save_model
from tests.jobs_support import load_clients

PASSWORD = "correct horse battery"
VIEWER, ANALYST, ADMIN = (Actor(role, role) for role in ROLES)

# Each role against each action: the table the dashboard and the API enforce too.
ROLE_TABLE = {
    "explore": {"viewer", "analyst", "admin"},
    "view_models": {"viewer", "analyst", "admin"},
    "score": {"analyst", "admin"},
    "train": {"analyst", "admin"},
    "load_data": {"admin"},
    "set_champion": {"admin"},
    "set_policy": {"admin"},
    "manage_users": {"admin"},
    "view_audit": {"admin"},
}


def test_the_role_table_covers_every_action():
    assert set(ROLE_TABLE) == set(ACTIONS)


@pytest.mark.parametrize("action", sorted(ROLE_TABLE))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_may_do_exactly_its_part(role, action):
    actor = Actor("someone", role)
    if role in ROLE_TABLE[action]:
        require(actor, action)
    else:
        with pytest.raises(AccessDenied, match=f"someone \\({role}\\) may not .*needs the"):
            require(actor, action)


def test_open_and_system_may_do_everything():
    for action in ACTIONS:
        require(OPEN, action)
        require(SYSTEM, action)


def test_access_control_is_on_once_a_user_exists(engine):
    assert not access_control_on(engine)
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    assert access_control_on(engine)
    assert [(u.name, u.role, u.keys) for u in list_users(engine)] == [("ana", "analyst", 0)]


def test_passwords_are_stored_as_argon2_hashes(engine):
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    with engine.connect() as connection:
        stored = connection.execute(select(User.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


@pytest.mark.parametrize(
    "name, password, role, message",
    [
        ("", PASSWORD, "viewer", "user name"),
        (" ana", PASSWORD, "viewer", "user name"),
        ("a" * 101, PASSWORD, "viewer", "user name"),
        ("ana\x00", PASSWORD, "viewer", "user name"),
        ("ana", "short", "viewer", "8 to 1024 characters"),
        ("ana", PASSWORD, "root", "unknown role 'root'"),
    ],
)
def test_bad_users_are_refused_by_name(engine, name, password, role, message):
    with pytest.raises(ValueError, match=message):
        add_user(engine, name, password, role, actor=SYSTEM)
    assert list_users(engine) == []


def test_a_taken_name_is_refused(engine):
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    with pytest.raises(UserError, match="'ana' already exists"):
        add_user(engine, "ana", PASSWORD, "viewer", actor=SYSTEM)


def test_login_gives_the_user_and_their_role(engine):
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    assert authenticate(engine, "ana", PASSWORD) == Actor("ana", "analyst")
    assert list_users(engine)[0].last_login_at is not None


@pytest.mark.parametrize("name, password", [("ana", "wrong password"), ("bob", PASSWORD)])
def test_a_wrong_name_or_password_gets_one_message(engine, name, password):
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    with pytest.raises(LoginError, match="^wrong user name or password$"):
        authenticate(engine, name, password)


def test_lock_times_double_after_the_fifth_failure():
    assert [lock_seconds(n) for n in range(1, 10)] == [0, 0, 0, 0, 30, 60, 120, 240, 480]
    assert lock_seconds(30) == 900


def test_failed_logins_lock_the_user_for_a_while(engine):
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    for _ in range(LOCK_AFTER):
        with pytest.raises(LoginError, match="wrong user name or password"):
            authenticate(engine, "ana", "wrong password", at=start)
    (user,) = list_users(engine)
    assert user.failed_logins == LOCK_AFTER
    assert user.locked_until == start + timedelta(seconds=30)
    # Locked: even the right password is refused, and the message says how long to wait.
    with pytest.raises(LoginError, match="too many failed logins: try again in 21 s"):
        authenticate(engine, "ana", PASSWORD, at=start + timedelta(seconds=10))
    # Once the lock ends, a wrong password locks again, for twice as long.
    later = start + timedelta(seconds=31)
    with pytest.raises(LoginError, match="wrong user name or password"):
        authenticate(engine, "ana", "wrong password", at=later)
    assert list_users(engine)[0].locked_until == later + timedelta(seconds=60)
    # The right password after the lock resets the count.
    assert authenticate(engine, "ana", PASSWORD, at=later + timedelta(seconds=61))
    assert list_users(engine)[0].failed_logins == 0


def test_a_new_password_lifts_the_lock(engine):
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    for _ in range(LOCK_AFTER):
        with pytest.raises(LoginError):
            authenticate(engine, "ana", "wrong password")
    set_password(engine, "ana", "another good one", actor=SYSTEM)
    assert authenticate(engine, "ana", "another good one") == Actor("ana", "analyst")


def test_api_keys_find_their_owner_and_only_a_hash_is_stored(engine):
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    key = new_key(engine, "ana", actor=SYSTEM)
    assert key.startswith("ck_") and len(key) > 40
    assert key_actor(engine, key) == Actor("ana", "analyst")
    with engine.connect() as connection:
        rows = connection.execute(select(ApiKey.prefix, ApiKey.key_hash)).all()
        dump = " ".join(str(v) for row in rows for v in row)
    assert key not in dump and key[11:] not in dump
    assert list_users(engine)[0].keys == 1


@pytest.mark.parametrize(
    "forged",
    [
        lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),
        lambda key: key[:11] + "x" * (len(key) - 11),
        lambda key: "ck_00000000_" + key[12:],
        lambda key: key.removeprefix("ck_"),
        lambda key: "",
        lambda key: "ck_" + "9" * 5000,
    ],
)
def test_forged_keys_find_no_one(engine, forged):
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    key = new_key(engine, "ana", actor=SYSTEM)
    assert key_actor(engine, forged(key)) is None


def test_a_revoked_key_stops_working(engine):
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    key = new_key(engine, "ana", actor=SYSTEM)
    assert key_actor(engine, key)
    assert revoke_key(engine, key[:11], actor=SYSTEM) == "ana"
    assert key_actor(engine, key) is None
    with pytest.raises(UserError, match="no live API key starts with"):
        revoke_key(engine, key[:11], actor=SYSTEM)


def test_removing_a_user_removes_their_keys(engine):
    add_user(engine, "boss", PASSWORD, "admin", actor=SYSTEM)
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    key = new_key(engine, "ana", actor=SYSTEM)
    remove_user(engine, "ana", actor=SYSTEM)
    assert key_actor(engine, key) is None
    assert user_actor(engine, "ana") is None
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 0


def test_the_last_admin_cannot_be_removed_or_demoted_while_others_remain(engine):
    add_user(engine, "boss", PASSWORD, "admin", actor=SYSTEM)
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    with pytest.raises(UserError, match="last admin"):
        remove_user(engine, "boss", actor=SYSTEM)
    with pytest.raises(UserError, match="last admin"):
        set_role(engine, "boss", "viewer", actor=SYSTEM)
    set_role(engine, "ana", "admin", actor=SYSTEM)
    set_role(engine, "boss", "viewer", actor=SYSTEM)
    assert user_actor(engine, "boss") == Actor("boss", "viewer")


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_only_admins_manage_users(engine, role):
    actor = Actor("someone", role)
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    calls = [
        lambda: add_user(engine, "eve", PASSWORD, "admin", actor=actor),
        lambda: remove_user(engine, "ana", actor=actor),
        lambda: set_role(engine, "ana", "admin", actor=actor),
        lambda: set_password(engine, "ana", "new password!", actor=actor),
        lambda: new_key(engine, "ana", actor=actor),
    ]
    for call in calls:
        with pytest.raises(AccessDenied, match="needs the admin role"):
            call()
    assert [u.name for u in list_users(engine)] == ["ana"]


class QueueOnly:
    """A runner that takes jobs and runs none: these tests are about who may submit."""

    kind = "local"

    def hand_over(self, engine, job_id, models):
        self.taken = job_id


PARAMS = {"folds": 2, "version": "1.0", "models": ["lr"], "sample_size": 500}


def test_core_refuses_training_below_the_analyst_role(engine):
    load_clients(engine, 600)
    with pytest.raises(AccessDenied, match="may not train models"):
        jobs.submit(engine, PARAMS, QueueOnly(), actor=VIEWER)
    assert jobs.list_jobs(engine) == []
    job_id = jobs.submit(engine, PARAMS, QueueOnly(), actor=ANALYST)
    with pytest.raises(AccessDenied, match="may not train models"):
        jobs.cancel(engine, job_id, actor=VIEWER)
    assert jobs.cancel(engine, job_id, actor=ANALYST).state == "cancelled"


@pytest.mark.parametrize("actor", [VIEWER, ANALYST])
def test_core_refuses_loading_data_below_admin(engine, actor, real_data):
    with pytest.raises(AccessDenied, match="may not load data"):
        publish_file(engine, MemoryStore(), real_data, "credit.csv", actor=actor)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM clients")).scalar_one() == 0


def test_core_refuses_a_new_champion_below_admin(engine):
    save_model(engine, "1.0")
    for actor in (VIEWER, ANALYST):
        with pytest.raises(AccessDenied, match="may not choose the champion"):
            set_champion(engine, "1.0", actor=actor)
    assert not get_version(engine, "1.0").is_champion
    set_champion(engine, "1.0", actor=ADMIN)
    assert get_version(engine, "1.0").is_champion


def test_the_audit_log_says_who_did_what(engine):
    boss = Actor("boss", "admin")
    load_clients(engine, 600)
    add_user(engine, "boss", PASSWORD, "admin", actor=SYSTEM)
    add_user(engine, "ana", PASSWORD, "viewer", actor=boss)
    set_role(engine, "ana", "analyst", actor=boss)
    new_key(engine, "ana", actor=boss)
    jobs.submit(engine, PARAMS, QueueOnly(), actor=Actor("ana", "analyst"))
    save_model(engine, "0.9")
    set_champion(engine, "0.9", actor=boss)
    entries = recent(engine)
    assert [(e.actor, e.action) for e in entries] == [
        ("boss", "champion_changed"),
        ("ana", "training_submitted"),
        ("boss", "key_made"),
        ("boss", "role_changed"),
        ("boss", "user_added"),
        ("system", "user_added"),
    ]
    assert entries[0].detail == "version 0.9 is champion"
    assert entries[3].detail == "ana is now analyst"
    assert all(e.at.tzinfo is not None for e in entries)


def test_loads_are_audited(engine, real_data):
    publish_file(engine, MemoryStore(), real_data, "credit.csv", actor=Actor("boss", "admin"))
    (entry,) = recent(engine)
    assert (entry.actor, entry.action) == ("boss", "data_loaded")
    assert entry.detail == "loaded credit.csv (24,000 clients after)"


@pytest.mark.parametrize("name", ["ana\x00", "a" * 5_000, " ana", "", "ana\n"])
def test_names_no_user_can_have_are_wrong_names_not_errors(engine, name):
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    with pytest.raises(LoginError, match="^wrong user name or password$"):
        authenticate(engine, name, PASSWORD)


def test_the_key_cache_is_bounded(engine, monkeypatch):
    from core.auth import users

    monkeypatch.setattr(users, "MAX_TRUSTED_KEYS", 50)
    add_user(engine, "ana", PASSWORD, "analyst", actor=SYSTEM)
    key = new_key(engine, "ana", actor=SYSTEM)
    for number in range(200):
        assert key_actor(engine, f"ck_{number:08d}_forged") is None
    assert len(users._trusted_keys) == 50
    assert users.cached_key_actor(key) is users.UNKNOWN
    assert key_actor(engine, key) == Actor("ana", "analyst")
    assert users.cached_key_actor(key) == Actor("ana", "analyst")


def test_core_refuses_scoring_below_the_analyst_role(engine, tmp_path):
    from core.serving.files import score_csv_file
    from core.serving.scoring import explain, score, score_file
    from tests.jobs_support import real_frame

    client = real_frame().iloc[0].to_dict()
    calls = [
        lambda: score(engine, client, actor=VIEWER),
        lambda: explain(engine, client, actor=VIEWER),
        lambda: score_file(engine, b"LIMIT_BAL\n1\n", actor=VIEWER),
        lambda: score_csv_file(engine, tmp_path / "none.csv", tmp_path / "out.csv", actor=VIEWER),
    ]
    for call in calls:
        with pytest.raises(AccessDenied, match="viewer \\(viewer\\) may not score clients"):
            call()
    assert not (tmp_path / "out.csv").exists()
