"""Engines and schema migrations. One engine per URL; a session per unit of work."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from core.db.timeouts import (
    TIMEOUT_OPTION,
    NoAnswer,
    allow_long_statements,
    is_statement_timeout,
    long_statement_timeout,
    postgres_connect_args,
    statement_timeout,
    watch_answers,
)
from core.settings import get_settings, normalise_database_url

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


def make_engine(url: str, *, statement_timeout: float | None = None) -> Engine:
    """A new engine for `url`; SQLite files get their folder and foreign keys switched on.

    Postgres sessions get a statement timeout (`statement_timeout` seconds, else the setting
    DATABASE_STATEMENT_TIMEOUT), TCP keepalives and a client deadline (core.db.timeouts).
    """
    url = normalise_database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_LOCK_SECONDS})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    seconds = statement_timeout or get_settings().database_statement_timeout
    engine = create_engine(
        url,
        pool_pre_ping=True,
        connect_args=postgres_connect_args(seconds),
        execution_options={TIMEOUT_OPTION: seconds},
    )
    watch_answers(engine, seconds)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str) -> Engine:
    """The process-wide engine for `url` (engines are thread-safe and pool connections)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = make_engine(url)
        return engine


def forget_engines() -> None:
    """Close the pooled connections of every engine get_engine made and forget them, so the
    next call makes a new one (tests that empty a database; a process that changes its
    settings). Dropping an engine without this leaves its idle connections open for as long
    as anything still refers to it."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


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
def connect(engine: Engine, write: bool = False, *, long: bool = False) -> Iterator[Connection]:
    """A connection on the migrated schema (a transaction when `write`); with `long`, its
    statements may run up to DATABASE_LONG_STATEMENT_TIMEOUT (training reads).

    Database failures come out as DatabaseError with a readable message.
    """
    timeout = long_statement_timeout() if long else None
    try:
        migrate(engine)
        with engine.begin() if write else engine.connect() as connection:
            if long:
                allow_long_statements(connection)
            yield connection
    except SQLAlchemyError as exc:
        raise DatabaseError(describe_error(engine, exc, timeout=timeout)) from exc


def check(engine: Engine) -> None:
    """Raise DatabaseError with a readable message when the database does not answer."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseError(describe_error(engine, exc)) from exc


def database_label(engine: Engine) -> str:
    """The database in words, without user or password: "PostgreSQL 10.0.0.5:5432/credit"."""
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"SQLite {url.database}"
    return f"PostgreSQL {url.host}:{url.port or 5432}/{url.database}"


# Driver messages that mean one thing, and that thing in plain words.
PLAIN_REASONS = (
    ("connection refused", "connection refused (is the database server running?)"),
    ("could not translate host name", "unknown host name"),
    ("name or service not known", "unknown host name"),
    ("password authentication failed", "the user name or password was refused"),
    ("no password supplied", "the database asks for a password and none was given"),
    ("unable to open database file", "the file cannot be opened (does its folder exist?)"),
    ("database is locked", "another process is writing to it (try again in a moment)"),
)


def plain_reason(error: BaseException) -> str:
    """A driver's error in words: the first line, or what it means when it is a known one."""
    text = str(error).strip()
    for phrase, words in PLAIN_REASONS:
        if phrase in text.lower():
            return words
    return text.splitlines()[0] if text else type(error).__name__


def describe_error(engine: Engine, exc: BaseException, *, timeout: float | None = None) -> str:
    """A one-line, password-free description of a database failure, in plain words.

    A statement cancelled by the statement timeout (`timeout` seconds when the caller
    raised it, else the engine's) or a server that stopped answering says how long it
    was given."""
    where = f"database {database_label(engine)}"
    error = getattr(exc, "orig", None) or exc
    if isinstance(error, NoAnswer):
        return f"{where} did not answer within {error.seconds:g} s (connection closed)"
    if is_statement_timeout(error):
        seconds = timeout or statement_timeout(engine)
        return f"{where} did not answer within {seconds:g} s (statement timeout)"
    return f"{where} is unavailable: {plain_reason(error)}"
