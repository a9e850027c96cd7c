"""The audit log: who loaded data, trained, changed the champion or managed users, and when."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, select

from core.auth.access import Actor
from core.clock import aware
from core.db.engine import connect
from core.db.schema import AuditEntry

AUDIT = AuditEntry.__table__


@dataclass(frozen=True)
class Entry:
    at: datetime
    actor: str
    action: str
    detail: str


def record(connection: Connection, actor: Actor, action: str, detail: str = "") -> None:
    """Add one entry inside the caller's transaction, so it lands with what it describes."""
    connection.execute(
        insert(AUDIT).values(
            at=datetime.now(UTC), actor=actor.name[:100], action=action, detail=detail
        )
    )


def recent(engine: Engine, limit: int = 100) -> list[Entry]:
    """The newest `limit` entries, newest first."""
    query = select(AUDIT).order_by(AUDIT.c.at.desc(), AUDIT.c.id.desc()).limit(limit)
    with connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
    return [Entry(aware(row["at"]), row["actor"], row["action"], row["detail"]) for row in rows]
