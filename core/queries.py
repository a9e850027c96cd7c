"""The explore pages' questions, answered in SQL: figures, chart data, the client table,
CSV export, client lookup and the payments aggregates.

Every aggregation runs in the database with bound parameters (SQLite, which has no median,
gets a median aggregate registered on its connection); Python only divides sums and labels
codes. Results go through a QueryCache keyed by the database, the query, its parameters
and the data version, so a load invalidates them; pass `cache=None` to compute uncached.

Aggregates read summaries that are rebuilt here, once, when the data version has moved
on (see core.models): the client-level figures and charts `client_summary` (clients per
combination of the filterable columns), the monthly payment totals and status shares
`payment_summary`, the status transitions `status_moves`, and for the medians
`client_months` (one row per client), `overall_medians` (with no filter) and
`median_sample` (a random sample of clients, for broad filters). Row-level questions
(table, export, lookup) read the tables.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import operator
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import reduce
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Select,
    SmallInteger,
    case,
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
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from core.cache import QueryCache
from core.config import get_settings
from core.dataset import DOMAINS, FEATURES, ID, TARGET
from core.db import DatabaseError, describe_error, migrate
from core.filters import RANGES, Filters, label
from core.models import (
    STATUS_GROUP_KEYS,
    Client,
    ClientSummary,
    Payment,
    SummaryState,
    client_months,
    median_sample,
    overall_medians,
    payment_summary,
    status_moves,
)
from core.status import data_version

log = logging.getLogger(__name__)

clients = Client.__table__
payments = Payment.__table__
summary = ClientSummary.__table__
summary_state = SummaryState.__table__

MONTHS = tuple(range(6, 0, -1))  # oldest (April 2005) first, as charts read left to right
MONTH_LABELS = {
    1: "Sep 2005",
    2: "Aug 2005",
    3: "Jul 2005",
    4: "Jun 2005",
    5: "May 2005",
    6: "Apr 2005",
}
STATUS_LABELS = {-2: "no consumption", -1: "paid duly", 0: "revolving credit"}
STATUS_LABELS |= {n: f"{n} month{'s' if n > 1 else ''} late" for n in range(1, 10)}
# Repayment-status groups of the payments page: (label, lowest code, highest code).
STATUS_GROUPS = (
    ("no consumption", -2, -2),
    ("paid duly", -1, -1),
    ("revolving credit", 0, 0),
    ("1 month late", 1, 1),
    ("2 months late", 2, 2),
    ("3+ months late", 3, 9),
)
GROUP_KEYS = dict(zip((g[0] for g in STATUS_GROUPS), STATUS_GROUP_KEYS, strict=True))
# payment_totals' columns; payment_months adds the medians after the group counts.
TOTAL_COLUMNS = ["month", "label", "clients", "total_bill", "total_paid", *GROUP_KEYS]
TOTAL_COLUMNS += [f"share: {name}" for name in GROUP_KEYS]
MEDIAN_COLUMNS = ["month", "label", "median_bill", "median_paid"]
MEDIAN_COLUMNS += ["bill_low", "bill_high", "paid_low", "paid_high", "median_clients"]
MONTH_COLUMNS = TOTAL_COLUMNS[: 5 + len(GROUP_KEYS)] + MEDIAN_COLUMNS[2:]
MONTH_COLUMNS += TOTAL_COLUMNS[5 + len(GROUP_KEYS) :]
# When medians are estimated, and from how many clients: the settings EXACT_MEDIAN_CLIENTS,
# MEDIAN_SAMPLE_SIZE and MEDIAN_SAMPLE_TARGET (core.config).
CONFIDENCE_Z = 1.96  # the medians' intervals: 95%
PAIRS = range(1, 6)  # the later month of each pair of consecutive months
FILTER_COLUMNS = ("sex", "education", "marriage", "age", "limit_bal", "defaulted")
GRAIN_AGE, GRAIN_LIMIT = 1, 2  # summary grain bits: split by age, by credit limit
FINEST = GRAIN_AGE | GRAIN_LIMIT
RANGE_GRAINS = {"age": GRAIN_AGE, "limit_bal": GRAIN_LIMIT}
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
LIMIT_BIN = 50_000
SORTABLE = ("id", "limit_bal", "sex", "education", "marriage", "age", "defaulted")
BREAKDOWNS = ("sex", "education", "marriage")
EXPORT_COLUMNS = [ID, *FEATURES, TARGET]


@dataclass(frozen=True)
class Figures:
    """The headline numbers of the filtered clients; averages are None when none match."""

    clients: int
    average_age: float | None
    default_rate: float | None
    average_limit: float | None


@dataclass(frozen=True)
class Bounds:
    """Lowest and highest age and credit limit in the data, for the filter sliders."""

    age: tuple[int, int]
    limit_bal: tuple[int, int]


@dataclass(frozen=True)
class ClientRecord:
    """One client: the profile (codes and labels) and six months of history, oldest first."""

    profile: dict[str, Any]
    history: pd.DataFrame


# --- client-level figures and charts, from the summary ------------------------------------


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

    return _cached(engine, cache, "figures", filters.to_query(), compute, needs=CLIENT_SUMMARY)


def age_distribution(
    engine: Engine, filters: Filters, *, cache: QueryCache | None = None
) -> pd.DataFrame:
    """Matching clients per age and default outcome: columns age, defaulted, clients."""
    statement = (
        select(summary.c.age, summary.c.defaulted, func.sum(summary.c.clients).label("clients"))
        .where(filters.where(summary))
        .group_by(summary.c.age, summary.c.defaulted)
        .order_by(summary.c.age, summary.c.defaulted)
    )
    return _frame_query(engine, cache, "age_distribution", filters.to_query(), statement)


def default_rates(
    engine: Engine, filters: Filters, by: str, *, cache: QueryCache | None = None
) -> pd.DataFrame:
    """Default rate of the matching clients per `by` (sex, education or marriage).

    Columns: code, label, clients, defaulted, rate; one row per code that has clients.
    """
    if by not in BREAKDOWNS:
        raise ValueError(f"default rates are broken down by {', '.join(BREAKDOWNS)}, not {by!r}")
    column = summary.c[by]
    statement = (
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

    return _frame_query(engine, cache, f"default_rates_{by}", filters.to_query(), statement, finish)


def limit_distribution(
    engine: Engine, filters: Filters, *, cache: QueryCache | None = None
) -> pd.DataFrame:
    """Matching clients per credit-limit band of LIMIT_BIN and default outcome.

    Columns: band (its lowest limit), defaulted, clients.
    """
    band = (summary.c.limit_bal // LIMIT_BIN * LIMIT_BIN).label("band")
    statement = (
        select(band, summary.c.defaulted, func.sum(summary.c.clients).label("clients"))
        .where(filters.where(summary))
        .group_by(band, summary.c.defaulted)
        .order_by(band, summary.c.defaulted)
    )
    return _frame_query(engine, cache, "limit_distribution", filters.to_query(), statement)


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

    return _cached(engine, cache, "bounds", {}, compute, needs=CLIENT_SUMMARY)


def _defaulted_clients():
    return case((summary.c.defaulted, summary.c.clients), else_=0)


# --- rows: the client table, export and lookup --------------------------------------------


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
    order = [clients.c[sort].desc() if descending else clients.c[sort]]
    if sort != "id":
        order.append(clients.c.id.desc() if descending else clients.c.id)
    statement = (
        select(clients)
        .where(filters.where(clients))
        .order_by(*order)
        .limit(page_size)
        .offset((page - 1) * page_size)
    )
    params = {**filters.to_query(), "sort": sort, "desc": descending, "page": page}
    params["size"] = page_size
    return _frame_query(engine, cache, "client_table", params, statement)


def export_csv(engine: Engine, filters: Filters, *, chunk_size: int = 20_000) -> Iterator[bytes]:
    """The matching clients as CSV in the data set's own format, one chunk at a time.

    Rows stream from a server-side cursor, so a million clients never sit in memory as a
    frame; the file loads back with `python -m core load --csv`.
    """
    migrate(engine)
    months = range(1, 7)
    by_month = [
        *(_month_value(payments.c.status, m, f"PAY_{m}") for m in months),
        *(_month_value(payments.c.bill_amt, m, f"BILL_AMT{m}") for m in months),
        *(_month_value(payments.c.pay_amt, m, f"PAY_AMT{m}") for m in months),
    ]
    statement = (
        select(
            clients.c.id,
            clients.c.limit_bal,
            clients.c.sex,
            clients.c.education,
            clients.c.marriage,
            clients.c.age,
            *by_month,
            cast(clients.c.defaulted, Integer),
        )
        .select_from(clients.join(payments, payments.c.client_id == clients.c.id))
        .where(filters.where(clients))
        .group_by(*clients.c)
        .order_by(clients.c.id)
    )
    yield _csv_bytes([EXPORT_COLUMNS])
    try:
        with engine.connect() as connection:
            result = connection.execution_options(stream_results=True).execute(statement)
            for rows in result.partitions(chunk_size):
                yield _csv_bytes(rows)
    except SQLAlchemyError as exc:
        raise DatabaseError(describe_error(engine, exc)) from exc


def _month_value(column, month: int, name: str):
    return func.max(case((payments.c.month == month, column))).label(name)


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

    return _cached(engine, cache, "client", {"id": int(client_id)}, compute)


def _profile(row) -> dict[str, Any]:
    profile = {name: int(row[name]) for name in ("id", "limit_bal", "age")}
    for name in BREAKDOWNS:
        profile[name] = int(row[name])
        profile[f"{name}_label"] = label(name, int(row[name]))
    profile["defaulted"] = bool(row["defaulted"])
    return profile


# --- payments ------------------------------------------------------------------------------


def payment_totals(
    engine: Engine, filters: Filters, *, cache: QueryCache | None = None
) -> pd.DataFrame:
    """Per month, oldest first: matching clients, total bill and amount paid, and each
    repayment-status group's count and share (columns `share: <group>`).

    Sums the matching rows of `payment_summary` at the coarsest grain the filters allow;
    months without matching payments are left out.
    """

    def compute(connection: Connection) -> pd.DataFrame:
        table = payment_summary
        sums = []
        for m in MONTHS:
            groups = [table.c[f"{key}_{m}"] for key in GROUP_KEYS.values()]
            sums.append(func.sum(reduce(operator.add, groups)).label(f"clients_{m}"))
            sums.append(func.sum(table.c[f"bill_{m}"]).label(f"total_bill_{m}"))
            sums.append(func.sum(table.c[f"paid_{m}"]).label(f"total_paid_{m}"))
            sums += [func.sum(column).label(f"{column.name}") for column in groups]
        where = [table.c.grain == _grain(filters), filters.where(table)]
        row = connection.execute(select(*sums).where(*where)).one()._mapping
        records = []
        for m in MONTHS:
            if not row[f"clients_{m}"]:
                continue
            record = {"month": m, "label": MONTH_LABELS[m], "clients": int(row[f"clients_{m}"])}
            record["total_bill"] = int(row[f"total_bill_{m}"])
            record["total_paid"] = int(row[f"total_paid_{m}"])
            record |= {name: int(row[f"{key}_{m}"]) for name, key in GROUP_KEYS.items()}
            records.append(record)
        counts = TOTAL_COLUMNS[: 5 + len(GROUP_KEYS)]
        frame = pd.DataFrame(records, columns=counts)
        frame = frame.astype({name: "int64" for name in counts if name != "label"})
        for name in GROUP_KEYS:
            frame[f"share: {name}"] = frame[name] / frame["clients"]
        return frame

    name, params = "payment_totals", filters.to_query()
    return _cached(engine, cache, name, params, compute, needs=PAYMENT_SUMMARIES, heavy=True)


def payment_medians(
    engine: Engine, filters: Filters, *, exact: bool = False, cache: QueryCache | None = None
) -> pd.DataFrame:
    """Per month, oldest first: the median bill and amount paid of the matching clients,
    with a 95% confidence interval (MEDIAN_COLUMNS; `median_clients` is how many clients'
    values each median is taken over).

    Exact (the interval is the median itself) with no filter, from `overall_medians`
    computed once per data version; and, from `client_months`, on SQLite, with `exact`,
    or when at most the setting EXACT_MEDIAN_CLIENTS match, since an exact median sorts
    every matching value. Otherwise estimated from the first draws of `median_sample`,
    enough to hold about MEDIAN_SAMPLE_TARGET matching clients: a uniform random sample,
    whose median and order statistics give the estimate and a distribution-free interval.
    """

    def compute(connection: Connection) -> pd.DataFrame:
        if filters.empty:
            stored = select(overall_medians).order_by(overall_medians.c.month.desc())
            return _median_frame(connection.execute(stored).all())
        sample = None if exact else plan_median_sample(connection, filters)
        if sample is None:
            statement = _median_statement(connection, filters)
        else:
            statement = _sample_statement(filters, sample)
        return _median_frame(_rows_by_month(connection.execute(statement)))

    return _cached(
        engine,
        cache,
        "payment_medians",
        {**filters.to_query(), "exact": exact},
        compute,
        needs=PAYMENT_SUMMARIES,
        heavy=True,
    )


def _median_frame(rows) -> pd.DataFrame:
    """MEDIAN_COLUMNS from (month, bill, paid, clients) rows, where bill and paid are either
    exact medians or [low, median, high] estimates; months without values are left out."""
    records = []
    for month, bill, paid, clients in rows:
        if bill is None:
            continue
        bills = bill if isinstance(bill, list) else [bill] * 3
        paids = paid if isinstance(paid, list) else [paid] * 3
        middle = [float(bills[1]), float(paids[1])]
        bounds = [float(v) for v in (bills[0], bills[2], paids[0], paids[2])]
        records.append((month, MONTH_LABELS[month], *middle, *bounds, int(clients)))
    frame = pd.DataFrame(records, columns=MEDIAN_COLUMNS)
    types = {name: float for name in MEDIAN_COLUMNS[2:-1]}
    return frame.astype({"month": "int64", **types, "median_clients": "int64"})


@dataclass(frozen=True)
class MedianSample:
    """Estimate from the first `draws` clients of median_sample, expected to hold
    `expected` of the `matching` clients; the interval spans ranks 0.5 +- `half_width`."""

    draws: int
    matching: int
    expected: float

    @property
    def half_width(self) -> float:
        unsampled = max(0.0, 1 - self.expected / self.matching)  # finite population
        return CONFIDENCE_Z * 0.5 * math.sqrt(unsampled / self.expected)


def plan_median_sample(connection: Connection, filters: Filters) -> MedianSample | None:
    """How to estimate the medians of the clients matching `filters`, or None to compute
    them exactly: on SQLite, when few clients match, or when the sample would hold them
    all."""
    if connection.dialect.name != "postgresql":
        return None
    table = payment_summary

    def clients(*where):
        return select(func.sum(table.c.clients)).where(*where).scalar_subquery()

    matching = clients(table.c.grain == _grain(filters), filters.where(table))
    everyone = clients(table.c.grain == 0)
    drawn = select(func.max(median_sample.c.draw) + 1).scalar_subquery()
    n, total, size = connection.execute(select(matching, everyone, drawn)).one()
    settings = get_settings()
    if not n or n <= settings.exact_median_clients or not size:
        return None
    draws = min(size, math.ceil(settings.median_sample_target * total / n))
    if draws >= total:
        return None
    return MedianSample(draws=draws, matching=int(n), expected=n * draws / total)


def _sample_statement(filters: Filters, sample: MedianSample) -> Select:
    """One row like _median_statement's, from the sample, each median as [low, median,
    high]: the sample's values at ranks 0.5 - half_width, 0.5 and 0.5 + half_width (order
    statistics, whose interval needs no assumption about the distribution)."""
    table = median_sample
    spread = min(sample.half_width, 0.5)
    fractions = postgresql.array([0.5 - spread, 0.5, 0.5 + spread])
    columns = []
    for m in MONTHS:
        for name in ("bill", "paid"):
            column = table.c[f"{name}_{m}"]
            columns.append(func.percentile_disc(fractions).within_group(column).label(column.name))
        columns.append(func.count(table.c[f"bill_{m}"]).label(f"clients_{m}"))
    return select(*columns).where(table.c.draw < sample.draws, filters.where(table))


def _median_statement(connection: Connection, filters: Filters) -> Select:
    """One row: each month's exact median bill and amount paid (`bill_m`, `paid_m`) of
    the rows of client_months that match `filters`, and how many had that month
    (`clients_m`)."""
    table = client_months
    columns = []
    for m in MONTHS:
        columns.append(_median(connection, table.c[f"bill_{m}"]).label(f"bill_{m}"))
        columns.append(_median(connection, table.c[f"paid_{m}"]).label(f"paid_{m}"))
        columns.append(func.count(table.c[f"bill_{m}"]).label(f"clients_{m}"))
    return select(*columns).where(filters.where(table))


def _rows_by_month(result) -> list[tuple]:
    """(month, bill, paid, clients) per month, oldest first, from one of the statements
    above."""
    row = result.one()._mapping
    return [(m, row[f"bill_{m}"], row[f"paid_{m}"], row[f"clients_{m}"]) for m in MONTHS]


def payment_months(
    engine: Engine, filters: Filters, *, exact: bool = False, cache: QueryCache | None = None
) -> pd.DataFrame:
    """payment_totals and payment_medians side by side, per month, oldest first: clients,
    total and median bill and amount paid, each status group's count and share, and the
    medians' intervals and clients (MONTH_COLUMNS)."""
    totals = payment_totals(engine, filters, cache=cache)
    return join_medians(totals, payment_medians(engine, filters, exact=exact, cache=cache))


def join_medians(totals: pd.DataFrame, medians: pd.DataFrame) -> pd.DataFrame:
    """payment_totals' and payment_medians' frames as one, per month (MONTH_COLUMNS)."""
    return totals.merge(medians.drop(columns="label"), on="month", how="left")[MONTH_COLUMNS]


def _median(connection: Connection, column):
    """The median aggregate: Postgres's percentile_cont, or on SQLite (which has none) one
    registered on the connection."""
    if connection.dialect.name == "postgresql":
        return func.percentile_cont(0.5).within_group(column)
    connection.connection.driver_connection.create_aggregate("median", 1, _Median)
    return func.median(column)


class _Median:
    """SQLite aggregate: the middle value, or the mean of the two middle values."""

    def __init__(self):
        self.values: list[float] = []

    def step(self, value) -> None:
        if value is not None:
            self.values.append(value)

    def finalize(self) -> float | None:
        return float(statistics.median(self.values)) if self.values else None


def status_transitions(
    engine: Engine,
    filters: Filters,
    *,
    month: int | None = None,
    cache: QueryCache | None = None,
) -> pd.DataFrame:
    """How matching clients' repayment status moved from one month to the next.

    Columns from_status, to_status, clients: counts over every pair of consecutive months,
    or only into `month` (1..5, from month + 1) when given. Sums `status_moves` at the
    coarsest grain the filters allow (without age and credit limit when they are not set).
    """
    if month is not None and month not in PAIRS:
        raise ValueError("month is 1 (Sep 2005) .. 5 (May 2005): the later month of a pair")
    table = status_moves
    pairs = PAIRS if month is None else (month,)
    moved = func.sum(reduce(operator.add, (table.c[f"into_{m}"] for m in pairs)))
    statement = (
        select(table.c.from_status, table.c.to_status, moved.label("clients"))
        .where(table.c.grain == _grain(filters), filters.where(table))
        .group_by(table.c.from_status, table.c.to_status)
        .having(moved > 0)
        .order_by(table.c.from_status, table.c.to_status)
    )
    params = {**filters.to_query(), "month": month}
    return _frame_query(engine, cache, "status_transitions", params, statement, heavy=True)


def _grain(filters: Filters) -> int:
    """The coarsest grain of payment_summary and status_moves that these filters can use."""
    return sum(bit for name, bit in RANGE_GRAINS.items() if getattr(filters, name))


# --- the summary tables -------------------------------------------------------------------


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
        raise DatabaseError(describe_error(engine, exc)) from exc
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

    def at(column, m: int):
        return func.max(column).filter(payments.c.month == m)

    pivoted = {f"status_{m}": at(payments.c.status, m) for m in MONTHS}
    pivoted |= {f"bill_{m}": at(payments.c.bill_amt, m) for m in MONTHS}
    pivoted |= {f"paid_{m}": at(payments.c.pay_amt, m) for m in MONTHS}
    pivot = (
        select(*(clients.c[name] for name in FILTER_COLUMNS), *pivoted.values())
        .select_from(clients.outerjoin(payments, payments.c.client_id == clients.c.id))
        .group_by(clients.c.id)
    )
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        # Both tables come in id order from their primary keys: merging and grouping them
        # as they stream beats hashing a million clients with 18 values each (which spills).
        _planner(connection, hashagg="off", hashjoin="off", sort="off")
    connection.execute(insert(client_months).from_select([*FILTER_COLUMNS, *pivoted], pivot))
    if postgres:
        _planner(connection, hashagg="on", hashjoin="on", sort="on")


def _build_overall_medians(connection: Connection) -> None:
    """The exact medians of every client, per month (the unfiltered Payments page)."""
    rows = _rows_by_month(connection.execute(_median_statement(connection, Filters())))
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
    values = [*FILTER_COLUMNS, *(f"{name}_{m}" for name in ("bill", "paid") for m in MONTHS)]
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
    sums |= {f"bill_{m}": func.sum(table.c[f"bill_{m}"]) for m in MONTHS}
    sums |= {f"paid_{m}": func.sum(table.c[f"paid_{m}"]) for m in MONTHS}
    for m in MONTHS:
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


# --- running and caching ------------------------------------------------------------------


def _frame_query(
    engine: Engine,
    cache: QueryCache | None,
    name: str,
    params: dict[str, Any],
    statement: Select,
    finish: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    *,
    heavy: bool = False,
) -> pd.DataFrame:
    def compute(connection: Connection) -> pd.DataFrame:
        frame = _frame(connection, statement)
        return finish(frame) if finish else frame

    needs = next(filter(None, map(SUMMARY_SETS.get, statement.get_final_froms())), None)
    return _cached(engine, cache, name, params, compute, needs=needs, heavy=heavy)


def _frame(connection: Connection, statement: Select) -> pd.DataFrame:
    result = connection.execute(statement)
    frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    for name in frame.columns:
        if frame[name].dtype == object and len(frame):
            # Postgres returns sums as Decimal: whole sums become integers, the rest floats.
            numbers = pd.to_numeric(frame[name])
            whole = numbers.notna().all() and (numbers % 1 == 0).all()
            frame[name] = numbers.astype("int64") if whole else numbers
    return frame


def _cached(
    engine: Engine,
    cache: QueryCache | None,
    name: str,
    params: dict[str, Any],
    compute: Callable[[Connection], Any],
    *,
    needs: str | None = None,
    heavy: bool = False,
) -> Any:
    """Run `compute` on a connection, through the cache when there is one; first rebuild
    the summary set it `needs` if the data has moved on."""
    migrate(engine)
    version = data_version(engine)

    def run() -> Any:
        if needs:
            refresh_summary(engine, version, needs)
        try:
            with engine.connect() as connection:
                if heavy and connection.dialect.name == "postgresql":
                    # JIT compiling costs more than it saves on these few-column scans.
                    connection.execute(text("SET LOCAL jit = off"))
                return compute(connection)
        except SQLAlchemyError as exc:
            raise DatabaseError(describe_error(engine, exc)) from exc

    if cache is None:
        return run()
    # Two databases may share one Redis (or one process's stand-in): key by database too.
    keyed = {"database": engine.url.render_as_string(hide_password=True), **params}
    return cache.get_or_compute(version, name, keyed, run)
