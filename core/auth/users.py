"""Users, passwords and API keys.

Passwords are hashed with argon2id (argon2-cffi); API keys are random and only their sha256
is stored, found by a short public prefix and compared in constant time. After LOCK_AFTER
wrong passwords in a row a user is locked for a time that doubles with each further failure
(LOCK_SECONDS, up to MAX_LOCK_SECONDS); a good password resets the count.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.auth import audit
from core.auth.access import Actor, check_role, require
from core.clock import aware, now
from core.db.engine import DatabaseError, connect
from core.db.schema import ApiKey, User

USERS = User.__table__
KEYS = ApiKey.__table__
HASHER = PasswordHasher()
# Checked against when a name is unknown, so a wrong name costs what a wrong password costs.
_DUMMY_HASH = HASHER.hash("not a password of anyone")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_NAME = 100
LOCK_AFTER = 5
LOCK_SECONDS = 30
MAX_LOCK_SECONDS = 900
KEY_PREFIX = "ck_"
# How long a process trusts what it read about users and keys: a revoked key or a first
# user takes effect everywhere within this time (at once in the process that made it).
TRUST_SECONDS = 5.0


class UserError(ValueError):
    """A user cannot be added or changed; the message says why."""


class LoginError(PermissionError):
    """A login was refused; the message never says whether the name exists."""


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: str
    created_at: datetime
    last_login_at: datetime | None
    failed_logins: int
    locked_until: datetime | None
    keys: int


def check_name(name: str) -> str:
    """A user name: 1-100 printable characters without spaces at either end."""
    if not name or name != name.strip() or len(name) > MAX_NAME or not name.isprintable():
        raise UserError(
            f"user name {name[:40]!r} is not allowed: use 1-{MAX_NAME} printable characters "
            "without leading or trailing spaces"
        )
    return name


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


# --- Is access control on? ---------------------------------------------------------------

_trust_lock = threading.Lock()
_user_exists: dict[str, tuple[bool, float]] = {}


def access_control_on(engine: Engine) -> bool:
    """Whether any user exists (then every caller must sign in or present a key).

    Read at most once per TRUST_SECONDS per process."""
    known = cached_access_control(engine)
    if known is not None:
        return known
    key = str(engine.url)
    with connect(engine) as connection:
        exists = connection.execute(select(func.count()).select_from(USERS)).scalar_one() > 0
    with _trust_lock:
        _user_exists[key] = (exists, time.monotonic() + TRUST_SECONDS)
    return exists


def _forget(engine: Engine) -> None:
    with _trust_lock:
        _user_exists.pop(str(engine.url), None)
        _trusted_keys.clear()


# --- Managing users -----------------------------------------------------------------------


def add_user(engine: Engine, name: str, password: str, role: str, *, actor: Actor) -> None:
    """Add a user; UserError when the name is taken or the input is not allowed."""
    require(actor, "manage_users")
    check_name(name)
    check_role(role)
    password_hash = HASHER.hash(check_password(password))
    try:
        with connect(engine, write=True) as connection:
            connection.execute(
                insert(USERS).values(
                    name=name,
                    role=role,
                    password_hash=password_hash,
                    failed_logins=0,
                    created_at=now(),
                )
            )
            audit.record(connection, actor, "user_added", f"{name} as {role}")
    except DatabaseError as exc:
        if isinstance(exc.__cause__, IntegrityError):
            raise UserError(f"a user named {name!r} already exists") from None
        raise
    _forget(engine)


def remove_user(engine: Engine, name: str, *, actor: Actor) -> None:
    """Remove a user and their API keys."""
    require(actor, "manage_users")
    with connect(engine, write=True) as connection:
        user_id = _user_id(connection, name)
        _keep_an_admin(connection, user_id)
        connection.execute(delete(KEYS).where(KEYS.c.user_id == user_id))
        connection.execute(delete(USERS).where(USERS.c.id == user_id))
        audit.record(connection, actor, "user_removed", name)
    _forget(engine)


def set_role(engine: Engine, name: str, role: str, *, actor: Actor) -> None:
    """Give `name` another role."""
    require(actor, "manage_users")
    check_role(role)
    with connect(engine, write=True) as connection:
        user_id = _user_id(connection, name)
        if role != "admin":
            _keep_an_admin(connection, user_id)
        connection.execute(update(USERS).where(USERS.c.id == user_id).values(role=role))
        audit.record(connection, actor, "role_changed", f"{name} is now {role}")
    _forget(engine)


def set_password(engine: Engine, name: str, password: str, *, actor: Actor) -> None:
    """Set a new password (and lift a lock)."""
    require(actor, "manage_users")
    password_hash = HASHER.hash(check_password(password))
    with connect(engine, write=True) as connection:
        user_id = _user_id(connection, name)
        connection.execute(
            update(USERS)
            .where(USERS.c.id == user_id)
            .values(password_hash=password_hash, failed_logins=0, locked_until=None)
        )
        audit.record(connection, actor, "password_set", name)


def list_users(engine: Engine) -> list[UserInfo]:
    """Every user, by name, with how many live API keys each holds."""
    live_keys = (
        select(KEYS.c.user_id, func.count().label("live"))
        .where(KEYS.c.revoked_at.is_(None))
        .group_by(KEYS.c.user_id)
        .subquery()
    )
    query = (
        select(USERS, func.coalesce(live_keys.c.live, 0).label("live"))
        .outerjoin(live_keys, live_keys.c.user_id == USERS.c.id)
        .order_by(USERS.c.name)
    )
    with connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
    return [
        UserInfo(
            name=row["name"],
            role=row["role"],
            created_at=aware(row["created_at"]),
            last_login_at=aware(row["last_login_at"]),
            failed_logins=row["failed_logins"],
            locked_until=aware(row["locked_until"]),
            keys=row["live"],
        )
        for row in rows
    ]


def _user_id(connection, name: str) -> int:
    user_id = connection.execute(select(USERS.c.id).where(USERS.c.name == name)).scalar()
    if user_id is None:
        raise UserError(f"no user is named {name!r}")
    return user_id


def _keep_an_admin(connection, user_id: int) -> None:
    """Refuse to remove or demote the last admin while other users remain."""
    admins = connection.execute(
        select(USERS.c.id).where(USERS.c.role == "admin", USERS.c.id != user_id)
    ).first()
    others = connection.execute(select(USERS.c.id).where(USERS.c.id != user_id)).first()
    target_is_admin = (
        connection.execute(select(USERS.c.role).where(USERS.c.id == user_id)).scalar_one()
        == "admin"
    )
    if target_is_admin and admins is None and others is not None:
        raise UserError(
            "that is the last admin: make another user admin first, so someone can still "
            "manage users"
        )


# --- Signing in ---------------------------------------------------------------------------


def authenticate(engine: Engine, name: str, password: str, at: datetime | None = None) -> Actor:
    """The user `name` when `password` is theirs; LoginError otherwise.

    Wrong passwords are counted; from the LOCK_AFTER-th one in a row the user is locked for
    LOCK_SECONDS, doubling with each further failure up to MAX_LOCK_SECONDS, and a locked
    user is refused without a check. `at` is the time to judge by (tests pass one)."""
    at = at or now()
    row = None
    if _possible_name(name):
        with connect(engine) as connection:
            query = select(USERS).where(USERS.c.name == name)
            row = connection.execute(query).mappings().first()
    if row is None:
        _verify(_DUMMY_HASH, password)
        raise LoginError("wrong user name or password")
    locked_until = aware(row["locked_until"])
    if locked_until is not None and locked_until > at:
        wait = int((locked_until - at).total_seconds()) + 1
        raise LoginError(f"too many failed logins: try again in {wait} s")
    if not _verify(row["password_hash"], password):
        _failed(engine, row["id"], row["failed_logins"] + 1, at)
        raise LoginError("wrong user name or password")
    with connect(engine, write=True) as connection:
        connection.execute(
            update(USERS)
            .where(USERS.c.id == row["id"])
            .values(failed_logins=0, locked_until=None, last_login_at=at)
        )
    return Actor(row["name"], row["role"])


def _possible_name(name: str) -> bool:
    """Whether `name` could be a user's (no query is made for one that cannot: a NUL byte,
    say, is an error on Postgres, not an unknown name)."""
    try:
        check_name(name)
    except UserError:
        return False
    return True


def lock_seconds(failures: int) -> int:
    """How long a user is locked after `failures` wrong passwords in a row (0: not locked)."""
    if failures < LOCK_AFTER:
        return 0
    return min(LOCK_SECONDS * 2 ** (failures - LOCK_AFTER), MAX_LOCK_SECONDS)


def _failed(engine: Engine, user_id: int, failures: int, at: datetime) -> None:
    seconds = lock_seconds(failures)
    locked_until = at + timedelta(seconds=seconds) if seconds else None
    with connect(engine, write=True) as connection:
        connection.execute(
            update(USERS)
            .where(USERS.c.id == user_id)
            .values(failed_logins=USERS.c.failed_logins + 1, locked_until=locked_until)
        )


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password[:MAX_PASSWORD])
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def user_actor(engine: Engine, name: str) -> Actor | None:
    """The user `name` as they are now (role changes and removals show at once)."""
    with connect(engine) as connection:
        role = connection.execute(select(USERS.c.role).where(USERS.c.name == name)).scalar()
    return None if role is None else Actor(name, role)


# --- API keys -----------------------------------------------------------------------------

# What recent keys resolved to (misses too), newest last, at most MAX_TRUSTED_KEYS: a flood of
# forged keys cannot grow it without bound.
_trusted_keys: OrderedDict[str, tuple[Actor | None, float]] = OrderedDict()
MAX_TRUSTED_KEYS = 10_000
UNKNOWN = object()


def new_key(engine: Engine, name: str, *, actor: Actor) -> str:
    """Make an API key for `name` and return it; only its sha256 is stored."""
    require(actor, "manage_users")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with connect(engine, write=True) as connection:
        user_id = _user_id(connection, name)
        connection.execute(
            insert(KEYS).values(
                user_id=user_id, prefix=prefix, key_hash=_digest(key), created_at=now()
            )
        )
        audit.record(connection, actor, "key_made", f"{name}: key {prefix}")
    return key


def revoke_key(engine: Engine, prefix: str, *, actor: Actor) -> str:
    """Revoke the key whose prefix is `prefix` (the 8 characters after `ck_`); returns its
    owner's name."""
    require(actor, "manage_users")
    prefix = prefix.removeprefix(KEY_PREFIX)[:8]
    with connect(engine, write=True) as connection:
        owner = connection.execute(
            select(USERS.c.name)
            .join(KEYS, KEYS.c.user_id == USERS.c.id)
            .where(KEYS.c.prefix == prefix, KEYS.c.revoked_at.is_(None))
        ).scalar()
        if owner is None:
            raise UserError(f"no live API key starts with {KEY_PREFIX}{prefix}")
        connection.execute(update(KEYS).where(KEYS.c.prefix == prefix).values(revoked_at=now()))
        audit.record(connection, actor, "key_revoked", f"{owner}: key {prefix}")
    _forget(engine)
    return owner


def key_actor(engine: Engine, key: str) -> Actor | None:
    """The owner of a live API key, or None; trusted for TRUST_SECONDS per process."""
    known = cached_key_actor(key)
    if known is not UNKNOWN:
        return known
    digest = _digest(key)
    prefix = key[len(KEY_PREFIX) : len(KEY_PREFIX) + 8]
    query = (
        select(KEYS.c.key_hash, USERS.c.name, USERS.c.role)
        .join(USERS, USERS.c.id == KEYS.c.user_id)
        .where(KEYS.c.prefix == prefix, KEYS.c.revoked_at.is_(None))
    )
    with connect(engine) as connection:
        row = connection.execute(query).first()
    found = None
    if row is not None and hmac.compare_digest(row.key_hash, digest):
        found = Actor(row.name, row.role)
    with _trust_lock:
        _trusted_keys[digest] = (found, time.monotonic() + TRUST_SECONDS)
        _trusted_keys.move_to_end(digest)
        while len(_trusted_keys) > MAX_TRUSTED_KEYS:
            _trusted_keys.popitem(last=False)
    return found


def cached_key_actor(key: str):
    """What key_actor would answer without asking the database: the owner or None when
    known (a malformed key is known to be nobody's), else UNKNOWN. An async server answers
    most requests with this and sends only the rest to a thread."""
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    with _trust_lock:
        cached = _trusted_keys.get(_digest(key))
    if cached and cached[1] > time.monotonic():
        return cached[0]
    return UNKNOWN


def cached_access_control(engine: Engine) -> bool | None:
    """access_control_on's answer when this process read it within TRUST_SECONDS, else None."""
    with _trust_lock:
        known = _user_exists.get(str(engine.url))
    return known[0] if known and known[1] > time.monotonic() else None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
