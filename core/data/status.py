"""What is loaded and whether the services answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from core.db.engine import connect
from core.db.schema import Dataset, Load


@dataclass(frozen=True)
class DataStatus:
    clients: int
    payments: int
    source: str
    loaded_at: datetime | None
    version: int

    @property
    def empty(self) -> bool:
        return self.clients == 0


EMPTY = DataStatus(0, 0, "", None, 0)


def data_status(engine: Engine) -> DataStatus:
    """Counts, source and load time of the data set; EMPTY before the first load."""
    with connect(engine) as connection:
        row = connection.execute(select(Dataset).where(Dataset.id == 1)).first()
    if row is None:
        return EMPTY
    return DataStatus(row.clients, row.payments, row.source, row.loaded_at, row.version)


@dataclass(frozen=True)
class LoadRecord:
    """One load in the history; the counts of what it added and updated are None for
    data loaded before the history was kept."""

    source: str
    sha256: str | None
    replaced: bool
    clients_added: int | None
    clients_updated: int | None
    payments_written: int | None
    clients: int
    payments: int
    loaded_at: datetime
    version: int


def load_history(engine: Engine, limit: int = 100) -> list[LoadRecord]:
    """The newest `limit` loads, newest first."""
    table = Load.__table__
    query = select(table).order_by(table.c.id.desc()).limit(limit)
    with connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
    return [
        LoadRecord(**{name: row[name] for name in LoadRecord.__dataclass_fields__}) for row in rows
    ]


def data_version(engine: Engine) -> int:
    """The number that changes at every load; cache keys carry it."""
    with connect(engine) as connection:
        version = connection.scalar(select(Dataset.version).where(Dataset.id == 1))
    return version or 0


def database_label(engine: Engine) -> str:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return f"SQLite {url.database}"
    return f"PostgreSQL {url.host}:{url.port or 5432}/{url.database}"
