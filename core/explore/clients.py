"""The Clients page's questions in SQL: figures, chart data, the client table, CSV export
and client lookup. Aggregates read `client_summary`; row-level questions read the tables.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    case,
    func,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from core.cache import QueryCache
from core.data.dataset import DOMAINS
from core.data.features import features_query
from core.db.engine import DatabaseError, describe_error, migrate
from core.encoding import cacheable
from core.explore.cached import frame_query, run_cached
from core.explore.filters import RANGES, Filters, label
from core.explore.sql import clients, payments, summary
from core.explore.summaries import CLIENT_SUMMARY
from core.vocabulary import FEATURES, ID, MONTH_LABELS, STATUS_LABELS, TARGET

LIMIT_BIN = 50_000
SORTABLE = ("id", "limit_bal", "sex", "education", "marriage", "age", "defaulted")
BREAKDOWNS = ("sex", "education", "marriage")
EXPORT_COLUMNS = [ID, *FEATURES, TARGET]


@cacheable
@dataclass(frozen=True)
class Figures:
    """The headline numbers of the filtered clients; averages are None when none match."""

    clients: int
    average_age: float | None
    default_rate: float | None
    average_limit: float | None


@cacheable
@dataclass(frozen=True)
class Bounds:
    """Lowest and highest age and credit limit in the data, for the filter sliders."""

    age: tuple[int, int]
    limit_bal: tuple[int, int]


@cacheable
@dataclass(frozen=True)
class ClientRecord:
    """One client: the profile (codes and labels) and six months of history, oldest first."""

    profile: dict[str, Any]
    history: pd.DataFrame


def figures(engine: Engine, filters: Filters, *, cache: QueryCache | None = None) -> Figures:
    """Number of matching clients, their average age, default rate and average credit limit.

    With no filter the average age is over all clients (the seed's `/query/clients/age/`).
    """

    def compute(connection: Connection) -> Figures:
        n = func.sum(summary.c.clients)
        row = connection.execute(
            select(
                n,
                func.sum(summary.c.clients * summary.c.age),
                func.sum(_defaulted_clients()),
                func.sum(summary.c.clients * summary.c.limit_bal),
            ).where(filters.where(summary))
        ).one()
        count = int(row[0] or 0)
        if count == 0:
            return Figures(0, None, None, None)
        return Figures(count, float(row[1]) / count, float(row[2]) / count, float(row[3]) / count)

    return run_cached(engine, cache, "figures", filters.to_query(), compute, needs=CLIENT_SUMMARY)


def age_distribution(
    engine: Engine, filters: Filters, *, cache: QueryCache | None = None
) -> pd.DataFrame:
    """Matching clients per age and default outcome: columns age, defaulted, clients."""

    def statement() -> Select:
        return (
            select(summary.c.age, summary.c.defaulted, func.sum(summary.c.clients).label("clients"))
            .where(filters.where(summary))
            .group_by(summary.c.age, summary.c.defaulted)
            .order_by(summary.c.age, summary.c.defaulted)
        )

    return frame_query(engine, cache, "age_distribution", filters.to_query(), statement)


def default_rates(
    engine: Engine, filters: Filters, by: str, *, cache: QueryCache | None = None
) -> pd.DataFrame:
    """Default rate of the matching clients per `by` (sex, education or marriage).

    Columns: code, label, clients, defaulted, rate; one row per code that has clients.
    """
    if by not in BREAKDOWNS:
        raise ValueError(f"default rates are broken down by {', '.join(BREAKDOWNS)}, not {by!r}")

    def statement() -> Select:
        column = summary.c[by]
        return (
            select(
                column.label("code"),
                func.sum(summary.c.clients).label("clients"),
                func.sum(_defaulted_clients()).label("defaulted"),
            )
            .where(filters.where(summary))
            .group_by(column)
            .order_by(column)
        )

    def finish(frame: pd.DataFrame) -> pd.DataFrame:
        frame.insert(1, "label", [label(by, code) for code in frame["code"]])
        frame["rate"] = frame["defaulted"] / frame["clients"]
        return frame

    return frame_query(engine, cache, f"default_rates_{by}", filters.to_query(), statement, finish)


def limit_distribution(
    engine: Engine, filters: Filters, *, cache: QueryCache | None = None
) -> pd.DataFrame:
    """Matching clients per credit-limit band of LIMIT_BIN and default outcome.

    Columns: band (its lowest limit), defaulted, clients.
    """

    def statement() -> Select:
        band = (summary.c.limit_bal // LIMIT_BIN * LIMIT_BIN).label("band")
        return (
            select(band, summary.c.defaulted, func.sum(summary.c.clients).label("clients"))
            .where(filters.where(summary))
            .group_by(band, summary.c.defaulted)
            .order_by(band, summary.c.defaulted)
        )

    return frame_query(engine, cache, "limit_distribution", filters.to_query(), statement)


def bounds(engine: Engine, *, cache: QueryCache | None = None) -> Bounds:
    """Age and credit-limit bounds of the loaded clients (the domains when there are none)."""

    def compute(connection: Connection) -> Bounds:
        row = connection.execute(
            select(
                func.min(summary.c.age),
                func.max(summary.c.age),
                func.min(summary.c.limit_bal),
                func.max(summary.c.limit_bal),
            )
        ).one()
        if row[0] is None:
            return Bounds(RANGES["age"], RANGES["limit_bal"])
        return Bounds((int(row[0]), int(row[1])), (int(row[2]), int(row[3])))

    return run_cached(engine, cache, "bounds", {}, compute, needs=CLIENT_SUMMARY)


def _defaulted_clients():
    return case((summary.c.defaulted, summary.c.clients), else_=0)


def client_table(
    engine: Engine,
    filters: Filters,
    *,
    sort: str = "id",
    descending: bool = False,
    page: int = 1,
    page_size: int = 25,
    cache: QueryCache | None = None,
) -> pd.DataFrame:
    """One page of the matching clients, sorted in the database (ties broken by id)."""
    if sort not in SORTABLE:
        raise ValueError(f"the client table sorts by {', '.join(SORTABLE)}, not {sort!r}")
    if page < 1 or not 1 <= page_size <= 1000:
        raise ValueError("page starts at 1 and page_size is 1..1000")

    def statement() -> Select:
        order = [clients.c[sort].desc() if descending else clients.c[sort]]
        if sort != "id":
            order.append(clients.c.id.desc() if descending else clients.c.id)
        return (
            select(clients)
            .where(filters.where(clients))
            .order_by(*order)
            .limit(page_size)
            .offset((page - 1) * page_size)
        )

    params = {**filters.to_query(), "sort": sort, "desc": descending, "page": page}
    params["size"] = page_size
    return frame_query(engine, cache, "client_table", params, statement)


def export_csv(engine: Engine, filters: Filters, *, chunk_size: int = 20_000) -> Iterator[bytes]:
    """The matching clients as CSV in the data set's own format, one chunk at a time.

    Rows stream from a server-side cursor, so a million clients never sit in memory as a
    frame; the file loads back with `python -m core load --csv`.
    """
    migrate(engine)
    statement = features_query(filters.where(clients))
    yield _csv_bytes([EXPORT_COLUMNS])
    try:
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(statement)
            for rows in result.partitions(chunk_size):
                yield _csv_bytes(rows)
    except SQLAlchemyError as exc:
        raise DatabaseError(describe_error(engine, exc)) from exc


def _csv_bytes(rows) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


def client_lookup(
    engine: Engine, client_id: int, *, cache: QueryCache | None = None
) -> ClientRecord | None:
    """The client with this id and their six months, or None when there is no such client."""
    low, high = DOMAINS[ID]
    if not low <= int(client_id) <= high:
        return None

    def compute(connection: Connection) -> ClientRecord | None:
        row = connection.execute(select(clients).where(clients.c.id == int(client_id))).first()
        if row is None:
            return None
        history = pd.DataFrame(
            connection.execute(
                select(payments.c.month, payments.c.status, payments.c.bill_amt, payments.c.pay_amt)
                .where(payments.c.client_id == int(client_id))
                .order_by(payments.c.month.desc())
            ).all(),
            columns=["month", "status", "bill_amt", "pay_amt"],
        )
        history.insert(1, "label", history["month"].map(MONTH_LABELS))
        history["status_label"] = history["status"].map(STATUS_LABELS)
        return ClientRecord(_profile(row._mapping), history)

    return run_cached(engine, cache, "client", {"id": int(client_id)}, compute)


def _profile(row) -> dict[str, Any]:
    profile = {name: int(row[name]) for name in ("id", "limit_bal", "age")}
    for name in BREAKDOWNS:
        profile[name] = int(row[name])
        profile[f"{name}_label"] = label(name, int(row[name]))
    profile["defaulted"] = bool(row["defaulted"])
    return profile
