"""What is loaded and whether the services answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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
    """Counts, source and load time (UTC) of the latest load; EMPTY before the first."""
    with connect(engine) as connection:
        row = connection.execute(select(Dataset).where(Dataset.id == 1)).first()
    if row is None:
        return EMPTY
    return DataStatus(row.clients, row.payments, row.source, _utc(row.loaded_at), row.version)


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
    """The newest `limit` loads, newest first; `loaded_at` in UTC."""
    table = Load.__table__
    query = select(table).order_by(table.c.id.desc()).limit(limit)
    with connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
    fields = [name for name in LoadRecord.__dataclass_fields__ if name != "loaded_at"]
    return [
        LoadRecord(**{name: row[name] for name in fields}, loaded_at=_utc(row["loaded_at"]))
        for row in rows
    ]


def _utc(moment: datetime) -> datetime:
    # SQLite gives back naive UTC; Postgres an aware time in the session's time zone.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def data_version(engine: Engine) -> int:
    """The number that changes at every load; cache keys carry it."""
    with connect(engine) as connection:
        version = connection.scalar(select(Dataset.version).where(Dataset.id == 1))
    return version or 0
