"""The summary tables the explore pages read, rebuilt once per data version.

Two sets, each rebuilt on its own on first use after a load (or right after it, by
`refresh_summaries`): the Clients page's `client_summary` (clients per combination of the
filterable columns), and the Payments page's `client_months` (one row per client),
`overall_medians`, `median_sample`, `payment_summary` and `status_moves`.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    SmallInteger,
    cast,
    column,
    func,
    insert,
    literal,
    select,
    text,
    true,
    union_all,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from core.data.features import monthly_columns
from core.data.status import data_version
from core.db.engine import DatabaseError, describe_error
from core.db.schema import (
    client_months,
    median_sample,
    overall_medians,
    payment_summary,
    status_moves,
)
from core.db.timeouts import allow_long_statements, long_statement_timeout
from core.explore.filters import Filters
from core.explore.sql import (
    FILTER_COLUMNS,
    FINEST,
    GRAIN_AGE,
    GRAIN_LIMIT,
    PAIRS,
    RANGE_GRAINS,
    clients,
    median_statement,
    payments,
    rows_by_month,
    summary,
    summary_state,
)
from core.settings import get_settings
from core.vocabulary import CHART_MONTHS, GROUP_KEYS, STATUS_GROUPS

log = logging.getLogger(__name__)


# The summaries come in two sets, each rebuilt on its own on first use after a load: the
# Clients page's, and the Payments page's (which takes longer).
CLIENT_SUMMARY, PAYMENT_SUMMARIES = "client_summary", "payments"
SUMMARY_SETS = {
    summary: CLIENT_SUMMARY,
    client_months: PAYMENT_SUMMARIES,
    median_sample: PAYMENT_SUMMARIES,
    overall_medians: PAYMENT_SUMMARIES,
    payment_summary: PAYMENT_SUMMARIES,
    status_moves: PAYMENT_SUMMARIES,
}


def refresh_summaries(engine: Engine) -> None:
    """Build every summary for the data now loaded, so that no page waits for it.

    Loads call this right after they commit; pages would otherwise build on first use.
    """
    version = data_version(engine)
    for name in (CLIENT_SUMMARY, PAYMENT_SUMMARIES):
        refresh_summary(engine, version, name)


def refresh_summary(engine: Engine, version: int, name: str = CLIENT_SUMMARY) -> bool:
    """Rebuild a set of summaries unless it already holds data `version` or newer.

    `name` is CLIENT_SUMMARY (`client_summary`, from the clients) or PAYMENT_SUMMARIES
    (`client_months` from the clients and payments, then `overall_medians`, `median_sample`,
    `payment_summary` and `status_moves` from it). One transaction per set. Returns
    whether it rebuilt. Concurrent callers wait on the set's state row lock, then find
    it fresh; a version read before a load that lands mid-build only causes one more
    rebuild later, never a stale summary under a new version.
    """
    if (summary_version(engine, name) or -1) >= version:
        return False  # the usual case, answered without taking the lock
    started = time.perf_counter()
    try:
        with engine.begin() as connection:
            # Rebuilding, or waiting for another process's rebuild, takes a while.
            allow_long_statements(connection)
            if not _lock_summary(connection, name, version):
                return False
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                # Hash tables of a million clients: in memory, not in batches on disk.
                connection.execute(text("SET LOCAL work_mem = '256MB'"))
                connection.execute(text("SET LOCAL jit = off"))
            tables = [table for table, group in SUMMARY_SETS.items() if group == name]
            _clear(connection, tables)
            if name == CLIENT_SUMMARY:
                _build_client_summary(connection)
            else:
                _build_client_months(connection)
                _build_overall_medians(connection)
                _build_median_sample(connection)
                _build_payment_summary(connection)
                _build_status_moves(connection)
            if postgres:
                # Fresh statistics, or the planner guesses one row per grain and sorts on
                # disk (client_months is only ever scanned whole).
                for table in tables:
                    if table is not client_months:
                        connection.execute(text(f"ANALYZE {table.name}"))
            connection.execute(
                update(summary_state).where(summary_state.c.name == name).values(version=version)
            )
    except SQLAlchemyError as exc:
        timeout = long_statement_timeout()
        raise DatabaseError(describe_error(engine, exc, timeout=timeout)) from exc
    seconds = time.perf_counter() - started
    log.info("rebuilt the %s summaries for data version %s in %.1f s", name, version, seconds)
    return True


def _clear(connection: Connection, tables) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"TRUNCATE {', '.join(table.name for table in tables)}"))
    else:
        for table in tables:
            connection.execute(table.delete())


def _build_client_summary(connection: Connection) -> None:
    dims = [clients.c[name] for name in FILTER_COLUMNS]
    connection.execute(
        insert(summary).from_select(
            [*FILTER_COLUMNS, "clients"], select(*dims, func.count()).group_by(*dims)
        )
    )


def _build_client_months(connection: Connection) -> None:
    """One row per client with its six months side by side (NULL for a missing month)."""
    short = {"status": "status", "bill_amt": "bill", "pay_amt": "paid"}
    pivoted = monthly_columns(lambda column, m: f"{short[column]}_{m}")
    pivot = (
        select(*(clients.c[name] for name in FILTER_COLUMNS), *pivoted)
        .select_from(clients.outerjoin(payments, payments.c.client_id == clients.c.id))
        .group_by(clients.c.id)
    )
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        # Both tables come in id order from their primary keys: merging and grouping them
        # as they stream beats hashing a million clients with 18 values each (which spills).
        _planner(connection, hashagg="off", hashjoin="off", sort="off")
    names = [column.name for column in pivoted]
    connection.execute(insert(client_months).from_select([*FILTER_COLUMNS, *names], pivot))
    if postgres:
        _planner(connection, hashagg="on", hashjoin="on", sort="on")


def _build_overall_medians(connection: Connection) -> None:
    """The exact medians of every client, per month (the unfiltered Payments page)."""
    rows = rows_by_month(connection.execute(median_statement(connection, Filters())))
    columns = ("month", "median_bill", "median_paid", "clients")
    records = [dict(zip(columns, row, strict=True)) for row in rows]
    connection.execute(insert(overall_medians), records)


def _build_median_sample(connection: Connection) -> None:
    """Draw up to the setting MEDIAN_SAMPLE_SIZE clients of client_months at random into
    median_sample, numbered from 0 in the order drawn and stored in that order (none when
    it is 0: medians are then always exact). Postgres only: SQLite always computes exact
    medians."""
    if connection.dialect.name != "postgresql":
        return
    # The same data draws the same sample: estimates do not move when nothing changed.
    connection.execute(select(func.setseed(0.5)))
    values = [*FILTER_COLUMNS, *(f"{name}_{m}" for name in ("bill", "paid") for m in CHART_MONTHS)]
    key = func.random().label("key")
    shuffled = (
        select(key, *(client_months.c[name] for name in values))
        .order_by(key)
        .limit(get_settings().median_sample_size)
        .subquery()
    )
    draw = func.row_number().over(order_by=shuffled.c.key) - 1
    numbered = select(draw, *(shuffled.c[name] for name in values))
    connection.execute(insert(median_sample).from_select(["draw", *values], numbered))


def _planner(connection: Connection, **methods: str) -> None:
    for method, value in methods.items():
        connection.execute(text(f"SET LOCAL enable_{method} = {value}"))


def _build_payment_summary(connection: Connection) -> None:
    """payment_summary from client_months, then its coarser grains."""
    table = client_months
    dims = [table.c[name] for name in FILTER_COLUMNS]
    sums = {"clients": func.count()}
    sums |= {f"bill_{m}": func.sum(table.c[f"bill_{m}"]) for m in CHART_MONTHS}
    sums |= {f"paid_{m}": func.sum(table.c[f"paid_{m}"]) for m in CHART_MONTHS}
    for m in CHART_MONTHS:
        status = table.c[f"status_{m}"]
        for (_, low, high), key in zip(STATUS_GROUPS, GROUP_KEYS.values(), strict=True):
            sums[f"{key}_{m}"] = func.count().filter(status.between(low, high))
    finest = select(literal(FINEST), *dims, *sums.values()).group_by(*dims)
    connection.execute(
        insert(payment_summary).from_select(["grain", *FILTER_COLUMNS, *sums], finest)
    )
    _coarser_grains(connection, payment_summary, list(sums))


def _build_status_moves(connection: Connection) -> None:
    """status_moves at grain 3 from client_months, then the coarser grains from it.

    Grouping the five million (client, pair of months) rows of a million clients by one
    packed integer per combination of the filterable columns, rather than by the six
    columns, halves the time; the index is built once afterwards, not row by row.
    """
    for index in status_moves.indexes:
        index.drop(connection)
    pairs = _status_pairs(connection).subquery()
    grouped = (
        select(
            pairs.c.cell,
            pairs.c.from_status,
            pairs.c.to_status,
            *(func.count().filter(pairs.c.pair == m).label(f"into_{m}") for m in PAIRS),
        )
        .group_by(pairs.c.cell, pairs.c.from_status, pairs.c.to_status)
        .subquery()
    )
    counts = [grouped.c.from_status, grouped.c.to_status, *(grouped.c[f"into_{m}"] for m in PAIRS)]
    columns = ["grain", *FILTER_COLUMNS, *(column.name for column in counts)]
    connection.execute(
        insert(status_moves).from_select(
            columns, select(literal(FINEST), *_unpacked_cell(grouped.c.cell), *counts)
        )
    )
    for index in status_moves.indexes:
        index.create(connection)
    counted = [f"into_{m}" for m in PAIRS]
    _coarser_grains(connection, status_moves, counted, keys=("from_status", "to_status"))


def _status_pairs(connection: Connection):
    """Each client's five (pair, from_status, to_status) rows with its packed cell.

    Postgres reads client_months once (a LATERAL VALUES list); SQLite, which has no
    LATERAL, once per pair.
    """
    table = client_months
    cell = _packed_cell(table).label("cell")
    both = {m: (table.c[f"status_{m + 1}"], table.c[f"status_{m}"]) for m in PAIRS}
    if connection.dialect.name == "postgresql":
        pairs = (
            values(
                column("pair", Integer),
                column("from_status", SmallInteger),
                column("to_status", SmallInteger),
                name="pairs",
            )
            .data([(m, *both[m]) for m in PAIRS])
            .lateral()
        )
        statement = select(cell, pairs.c.pair, pairs.c.from_status, pairs.c.to_status)
        statement = statement.select_from(table.join(pairs, true()))
        return statement.where(pairs.c.from_status.is_not(None), pairs.c.to_status.is_not(None))
    return union_all(
        *(
            select(
                cell,
                literal(m).label("pair"),
                earlier.label("from_status"),
                later.label("to_status"),
            ).where(earlier.is_not(None), later.is_not(None))
            for m, (earlier, later) in both.items()
        )
    )


def _coarser_grains(connection: Connection, table, sums: list[str], keys=()) -> None:
    """Add grains 1 and 2 of `table`, summed from its finest grain, and grain 0 from 1."""
    for grain, source in ((GRAIN_AGE, FINEST), (GRAIN_LIMIT, FINEST), (0, GRAIN_AGE)):
        kept = ["sex", "education", "marriage", "defaulted"]
        kept += [name for name, bit in RANGE_GRAINS.items() if grain & bit]
        by = [table.c[name] for name in (*kept, *keys)]
        statement = select(literal(grain), *by, *(func.sum(table.c[name]) for name in sums))
        statement = statement.where(table.c.grain == source).group_by(*by)
        columns = ["grain", *(column.name for column in by), *sums]
        connection.execute(insert(table).from_select(columns, statement))


# The filterable columns packed into one integer (limit_bal, then age < 128, sex 1..2,
# education < 8, marriage < 4, defaulted), innermost last: (name, radix, offset).
PACKING = (("age", 128, 0), ("sex", 2, 1), ("education", 8, 0), ("marriage", 4, 0))


def _packed_cell(table):
    packed = table.c.limit_bal
    for name, radix, offset in PACKING:
        packed = packed * radix + (table.c[name] - offset)
    return packed * 2 + cast(table.c.defaulted, Integer)


def _unpacked_cell(cell) -> list:
    """The FILTER_COLUMNS values of a packed cell, in that order."""
    parts = {"defaulted": cell % 2 == 1}
    rest = cell // 2
    for name, radix, offset in reversed(PACKING):
        parts[name] = rest % radix + offset
        rest = rest // radix
    parts["limit_bal"] = rest
    return [parts[name].label(name) for name in FILTER_COLUMNS]


def _lock_summary(connection: Connection, name: str, version: int) -> bool:
    """Take a summary set's write lock; True when it still needs a rebuild for `version`."""
    row = summary_state.c.name == name
    # A no-op update: the row lock on Postgres, the write lock on SQLite, before reading.
    locked = connection.execute(
        update(summary_state).where(row).values(version=summary_state.c.version)
    )
    if locked.rowcount == 0:  # no state row: a fresh schema, or Postgres emptied it in a crash
        postgres = connection.dialect.name == "postgresql"
        missing = (postgresql_insert if postgres else sqlite_insert)(summary_state)
        connection.execute(missing.values(name=name, version=-1).on_conflict_do_nothing())
        connection.execute(update(summary_state).where(row).values(version=summary_state.c.version))
    return connection.scalar(select(summary_state.c.version).where(row)) < version


def summary_version(engine: Engine, name: str = CLIENT_SUMMARY) -> int | None:
    """The data version a summary set was built from (None before the first build)."""
    try:
        with engine.connect() as connection:
            return connection.scalar(
                select(summary_state.c.version).where(summary_state.c.name == name)
            )
    except SQLAlchemyError as exc:
        raise DatabaseError(describe_error(engine, exc)) from exc
