"""Postgres sessions time out: a statement past its timeout, a stalled connection (through
a local TCP proxy that stops forwarding) and the pool's recovery, on the test Postgres."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from core import explore
from core.data.features import training_frame
from core.data.loader import load_frame
from core.data.synthetic import synthetic
from core.db.engine import DatabaseError, check, connect, make_engine, migrate
from core.db.timeouts import KEEPALIVES, postgres_connect_args
from core.explore.filters import Filters
from tests.conftest import fresh_postgres, postgres_url
from tests.tcp_proxy import TcpProxy

# Small timeouts so the tests finish fast; the defaults are 30 s and 1800 s.
TIMEOUT = 1


@pytest.fixture
def postgres():
    """An engine on the emptied, migrated test Postgres whose statements time out in 1 s."""
    fresh_postgres(postgres_url()).dispose()
    engine = make_engine(postgres_url(), statement_timeout=TIMEOUT)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def proxy():
    """A TCP proxy in front of the test Postgres."""
    url = make_url(postgres_url())
    fresh_postgres(postgres_url()).dispose()
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        yield proxy
        proxy.resume()


def through(proxy: TcpProxy) -> str:
    url = make_url(postgres_url()).set(host="127.0.0.1", port=proxy.port)
    return url.render_as_string(hide_password=False)


def backend_pid(connection) -> int:
    return connection.execute(text("SELECT pg_backend_pid()")).scalar()


def test_sessions_carry_the_statement_timeout_and_tcp_keepalives(postgres):
    with connect(postgres) as connection:
        assert connection.execute(text("SHOW statement_timeout")).scalar() == "1s"
        driver = connection.connection.driver_connection
    parameters = driver.info.get_parameters()
    for name, value in KEEPALIVES.items():
        assert parameters.get(name) == str(value), name
    if driver.info.host.startswith("/"):
        return  # a Unix socket has no TCP options to read back
    sock = socket.socket(fileno=socket.dup(driver.fileno()))
    try:
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 10_000
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 5
    finally:
        sock.close()


def test_the_setting_sets_the_statement_timeout(settings_env):
    settings_env(DATABASE_STATEMENT_TIMEOUT="2.5")
    engine = make_engine(postgres_url())
    try:
        with connect(engine) as connection:
            assert connection.execute(text("SHOW statement_timeout")).scalar() == "2500ms"
    finally:
        engine.dispose()
    assert "statement_timeout=30000" in postgres_connect_args(30)["options"]


def test_a_long_statement_raises_a_readable_error_naming_the_timeout(postgres):
    with pytest.raises(DatabaseError, match=r"did not answer within 1 s \(statement timeout\)"):
        with connect(postgres) as connection:
            connection.execute(text("SELECT pg_sleep(5)"))
    check(postgres)  # the same engine answers the next query


def test_long_operations_get_the_long_timeout_for_their_transaction_only(postgres, settings_env):
    settings_env(DATABASE_LONG_STATEMENT_TIMEOUT="6")
    # Longer than the timeout and than the client's own deadline (timeout + 2 s grace).
    with connect(postgres, long=True) as connection:
        first = backend_pid(connection)
        assert connection.execute(text("SELECT pg_sleep(3.5), 1")).one()[1] == 1
    with pytest.raises(DatabaseError, match="did not answer within 1 s"):
        with connect(postgres) as connection:
            assert backend_pid(connection) == first  # the same session, back to 1 s
            connection.execute(text("SELECT pg_sleep(3.5)"))
    with pytest.raises(DatabaseError, match=r"did not answer within 6 s \(statement timeout\)"):
        with connect(postgres, long=True) as connection:
            connection.execute(text("SELECT pg_sleep(8)"))


@contextmanager
def table_locked(table: str, seconds: float):
    """Another session holds an exclusive lock on `table` for `seconds`, from when this is
    entered: whatever reads or writes the table meanwhile waits."""
    locked = threading.Event()

    def hold():
        with psycopg.connect(postgres_url()) as session:
            session.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
            locked.set()
            time.sleep(seconds)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(30), f"could not lock {table}"
    try:
        yield
    finally:
        holder.join()


LONG_OPERATIONS = {
    "load": lambda engine: load_frame(engine, synthetic(50).assign(ID=range(500, 550)), "more"),
    "summary rebuild": lambda engine: explore.refresh_summaries(engine),
    "training read": lambda engine: training_frame(engine),
}


@pytest.mark.parametrize("operation", LONG_OPERATIONS.values(), ids=LONG_OPERATIONS.keys())
def test_long_operations_outlast_the_statement_timeout(postgres, settings_env, operation):
    """Waiting 2.5 s on a lock is past the 1 s statement timeout of queries, but within
    the long timeout that loads, summary rebuilds and training reads get."""
    settings_env(DATABASE_LONG_STATEMENT_TIMEOUT="30")
    load_frame(postgres, synthetic(200), "synthetic")
    with table_locked("clients", 2.5):
        with pytest.raises(DatabaseError, match=r"within 1 s \(statement timeout\)"):
            with connect(postgres) as connection:
                connection.execute(text("SELECT count(*) FROM clients"))
    with table_locked("clients", 2.5):
        operation(postgres)


def test_a_stalled_connection_fails_readably_and_the_pool_recovers(proxy):
    engine = make_engine(through(proxy), statement_timeout=TIMEOUT)
    load_frame(engine, synthetic(200), "synthetic")
    try:
        with pytest.raises(DatabaseError, match=r"did not answer within 3 s \(connection closed\)"):
            with connect(engine) as connection:
                assert connection.execute(text("SELECT 1")).scalar() == 1
                proxy.stall()  # mid-session: the peer goes silent, the socket stays open
                connection.execute(text("SELECT 1"))
        # Still stalled: a new query fails too (the pool's connections were dropped, and a
        # new one cannot start), with a readable message rather than a hang.
        with pytest.raises(DatabaseError, match="database .* (did not answer|is unavailable)"):
            explore.figures(engine, Filters(sex=(1,)))
        proxy.resume()
        assert explore.figures(engine, Filters(sex=(1,))).clients > 0
        check(engine)
    finally:
        engine.dispose()


def test_a_connection_stalled_in_the_pool_is_replaced_once_the_path_heals(proxy):
    engine = make_engine(through(proxy), statement_timeout=TIMEOUT)
    try:
        check(engine)  # one connection waits in the pool
        proxy.stall()
        with pytest.raises(DatabaseError):
            check(engine)  # its pre-ping gets no answer
        proxy.resume()
        check(engine)
    finally:
        engine.dispose()
