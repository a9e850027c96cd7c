"""The one clock: every stored time is UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """`value` with UTC attached when it is naive (SQLite hands back naive datetimes; every
    stored time is UTC); an aware value or None unchanged."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
