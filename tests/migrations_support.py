"""Databases at an older Alembic revision, for tests of what a migration does to old data."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from core.db.engine import MIGRATIONS, make_engine
from tests.conftest import fresh_postgres, postgres_url


def upgrade_to(engine: Engine, revision: str) -> None:
    """Migrate `engine` up to Alembic `revision`, in one transaction."""
    _run(command.upgrade, engine, revision)


def downgrade_to(engine: Engine, revision: str) -> None:
    """Migrate `engine` down to Alembic `revision`, in one transaction."""
    _run(command.downgrade, engine, revision)


def database_at(backend: str, tmp_path, revision: str) -> Engine:
    """A new database whose schema stops at `revision`: a SQLite file in `tmp_path` when
    `backend` is "sqlite", else the emptied test Postgres."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    else:
        engine = fresh_postgres(postgres_url())
    upgrade_to(engine, revision)
    return engine


def _run(step, engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        step(config, revision)
