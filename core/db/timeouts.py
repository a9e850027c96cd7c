"""How long a Postgres session waits: statement timeout, TCP keepalives, a client deadline.

Three layers, so that a stalled database gives a readable error in seconds, not minutes:

- the server cancels any statement after DATABASE_STATEMENT_TIMEOUT seconds (the session's
  `statement_timeout`); loads, summary rebuilds and training reads raise it for their own
  transaction to DATABASE_LONG_STATEMENT_TIMEOUT (`allow_long_statements`);
- the kernel drops a connection whose peer has gone silent: TCP keepalives probe an idle
  one, and `tcp_user_timeout` bounds how long sent data may stay unacknowledged;
- the client gives up on a connection that has not answered ANSWER_GRACE seconds after the
  server would have cancelled the statement (something between the two holds the packets,
  such as a stalled proxy, which acknowledges them itself), or PING_SECONDS after the
  pool's pre-ping, closes it, and the pool replaces it.
"""

from __future__ import annotations

import psycopg
from psycopg.errors import _WaitTimeout  # what Connection.wait raises when its timeout ends
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from core.settings import get_settings

# libpq TCP settings: an idle connection is probed after 5 s, every 2 s, and dropped after
# 3 unanswered probes; data unacknowledged for 10 s drops it too.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2}
KEEPALIVES |= {"keepalives_count": 3, "tcp_user_timeout": 10_000}
ANSWER_GRACE = 2.0  # seconds past the statement timeout before the client gives up
PING_SECONDS = 2.0  # the pool's pre-ping (an empty statement) answers within this, or fails
TIMEOUT_OPTION = "credit_statement_timeout"  # the engine's execution option: seconds


class NoAnswer(psycopg.OperationalError):
    """The server did not answer within `seconds`: the client closed the connection."""

    def __init__(self, seconds: float):
        super().__init__(f"no answer within {seconds:g} s; the connection was closed")
        self.seconds = seconds


class AnsweringConnection(psycopg.Connection):
    """A psycopg connection that waits at most `answer_within` seconds for the server.

    When that passes, the connection is closed and OperationalError says so; SQLAlchemy
    then sees a disconnect and replaces the pool's connections.
    """

    answer_within: float | None = None
    default_answer_within: float | None = None

    def wait(self, gen, interval=0.1, timeout=None):
        if timeout is not None or self.answer_within is None:
            return super().wait(gen, interval, timeout)
        try:
            return super().wait(gen, interval, self.answer_within)
        except _WaitTimeout:
            self.pgconn.finish()
            raise NoAnswer(self.answer_within) from None

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.answer_within = self.default_answer_within

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.answer_within = self.default_answer_within


def postgres_connect_args(statement_timeout: float) -> dict:
    """libpq connection parameters: connect timeout, keepalives and the statement timeout."""
    milliseconds = max(1, round(statement_timeout * 1000))
    return {"connect_timeout": 3, **KEEPALIVES, "options": f"-c statement_timeout={milliseconds}"}


def watch_answers(engine: Engine, statement_timeout: float) -> None:
    """Make `engine` open AnsweringConnections that give up ANSWER_GRACE s after the
    statement timeout."""

    @event.listens_for(engine, "do_connect")
    def _connect(_dialect, _record, cargs, cparams):
        connection = AnsweringConnection.connect(*cargs, **cparams)
        connection.default_answer_within = statement_timeout + ANSWER_GRACE
        connection.answer_within = connection.default_answer_within
        return connection

    # The pool pings a connection before handing it out; SQLAlchemy has no event around the
    # ping, so this engine's dialect gets a ping that waits PING_SECONDS at most.
    ping = engine.dialect.do_ping

    def quick_ping(dbapi_connection) -> bool:
        if not isinstance(dbapi_connection, AnsweringConnection):
            return ping(dbapi_connection)
        dbapi_connection.answer_within = PING_SECONDS
        try:
            return ping(dbapi_connection)
        finally:
            dbapi_connection.answer_within = dbapi_connection.default_answer_within

    engine.dialect.do_ping = quick_ping


def statement_timeout(engine: Engine) -> float | None:
    """The statement timeout of `engine`'s sessions in seconds (None on SQLite)."""
    return engine.get_execution_options().get(TIMEOUT_OPTION)


def long_statement_timeout() -> float:
    """Seconds a load, summary rebuild or training read may take (the setting)."""
    return get_settings().database_long_statement_timeout


def allow_long_statements(connection: Connection) -> None:
    """Let the statements of this transaction run up to DATABASE_LONG_STATEMENT_TIMEOUT
    seconds (Postgres; until it commits or rolls back). Call it first in the transaction."""
    if connection.dialect.name != "postgresql":
        return
    seconds = long_statement_timeout()
    connection.execute(text(f"SET LOCAL statement_timeout = {max(1, round(seconds * 1000))}"))
    driver = connection.connection.driver_connection
    if isinstance(driver, AnsweringConnection):
        driver.answer_within = seconds + ANSWER_GRACE


def transaction_timeout(connection: Connection) -> float | None:
    """The statement timeout in force in `connection`'s transaction, in seconds (None when
    it is not one of ours)."""
    try:
        driver = connection.connection.driver_connection
    except SQLAlchemyError:  # invalidated by the failure being described
        return None
    if isinstance(driver, AnsweringConnection) and driver.answer_within is not None:
        return driver.answer_within - ANSWER_GRACE
    return None


def is_statement_timeout(exc: BaseException) -> bool:
    """Whether `exc` (a SQLAlchemy or psycopg error) is a statement the server cancelled
    because it ran past the statement timeout."""
    error = getattr(exc, "orig", None) or exc
    return getattr(error, "sqlstate", None) == "57014" and "statement timeout" in str(error)
