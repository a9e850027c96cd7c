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


def seconds_between(started: datetime | None, finished: datetime | None) -> float | None:
    """Seconds from `started` to `finished` (to now while it has not finished), never
    negative; None when it has not started."""
    if started is None:
        return None
    return max(0.0, ((finished or now()) - started).total_seconds())
