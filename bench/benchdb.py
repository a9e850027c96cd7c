"""The benchmarks' databases: made fresh for a run, or created once and reused.

Imported by the scripts beside it (`python bench/<script>.py` puts this folder on the path).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

from core.db.engine import make_engine, migrate
from core.settings import normalise_database_url


def fresh_database(url: str) -> Engine:
    """A migrated, empty database: Postgres is dropped and recreated, SQLite removed."""
    parsed = make_url(normalise_database_url(url))
    if parsed.get_backend_name() == "sqlite":
        Path(parsed.database).unlink(missing_ok=True)
    else:
        with _admin(parsed) as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    engine = make_engine(parsed.render_as_string(hide_password=False))
    migrate(engine)
    return engine


def ensure_database(url: str) -> None:
    """Create the Postgres database `url` names when it does not exist."""
    parsed = make_url(normalise_database_url(url))
    with _admin(parsed) as connection:
        exists = connection.scalar(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
        )
        if not exists:
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))


@contextmanager
def _admin(url: URL) -> Iterator[Connection]:
    """An autocommit connection to the server's `postgres` database (CREATE/DROP DATABASE)."""
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()
