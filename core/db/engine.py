"""Engines and schema migrations. One engine per URL; a session per unit of work."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from core.settings import normalise_database_url

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_migrated: weakref.WeakSet[Engine] = weakref.WeakSet()
# Alembic's command context is process-global: two threads migrating at once (a server's
# first requests) break each other, so one migrates while the others wait.
_migrating = threading.Lock()
# How long a SQLite write waits for another one (a load) to end; core.jobs.store's stale
# timeout for training jobs is set above it.
SQLITE_LOCK_SECONDS = 10


class DatabaseError(RuntimeError):
    """The database cannot be reached or used; the message says which and why."""


def make_engine(url: str) -> Engine:
    """A new engine for `url`; SQLite files get their folder and foreign keys switched on."""
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_LOCK_SECONDS})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 3})


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


@lru_cache(maxsize=8)
def get_engine(url: str) -> Engine:
    """The process-wide engine for `url` (engines are thread-safe and pool connections)."""
    return make_engine(url)


def migrate(engine: Engine) -> None:
    """Bring the schema up to the newest Alembic revision, in place (once per engine).

    One thread at a time: Alembic keeps its running context in module globals, so two
    threads upgrading at once (a worker and its reaper, two dashboard sessions) break each
    other."""
    if engine in _migrated:
        return
    with _migrating:
        if engine in _migrated:
            return
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with engine.begin() as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
        except SQLAlchemyError as exc:
            raise DatabaseError(describe_error(engine, exc)) from exc
        _migrated.add(engine)


@contextmanager
def connect(engine: Engine, write: bool = False) -> Iterator[Connection]:
    """A connection on the migrated schema (a transaction when `write`).

    Database failures come out as DatabaseError with a readable message.
    """
    try:
        migrate(engine)
        with engine.begin() if write else engine.connect() as connection:
            yield connection
    except SQLAlchemyError as exc:
        raise DatabaseError(describe_error(engine, exc)) from exc


def check(engine: Engine) -> None:
    """Raise DatabaseError with a readable message when the database does not answer."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseError(describe_error(engine, exc)) from exc


def describe_error(engine: Engine, exc: BaseException) -> str:
    """A one-line, password-free description of a database failure."""
    where = engine.url.render_as_string(hide_password=True)
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    return f"database {where} is unavailable: {reason}"
