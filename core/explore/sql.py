"""SQL pieces shared by the explore queries and the summary builders: table handles, the
median aggregate (registered on SQLite, which has none), summary grains, rows to frames.
"""

from __future__ import annotations

import statistics

import pandas as pd
from sqlalchemy import (
    Connection,
    Select,
    func,
    select,
)

from core.db.schema import Client, ClientSummary, Payment, SummaryState, client_months
from core.explore.filters import Filters
from core.vocabulary import CHART_MONTHS

clients = Client.__table__
payments = Payment.__table__
summary = ClientSummary.__table__
summary_state = SummaryState.__table__
PAIRS = range(1, 6)  # the later month of each pair of consecutive months
FILTER_COLUMNS = ("sex", "education", "marriage", "age", "limit_bal", "defaulted")
GRAIN_AGE, GRAIN_LIMIT = 1, 2  # summary grain bits: split by age, by credit limit
FINEST = GRAIN_AGE | GRAIN_LIMIT
RANGE_GRAINS = {"age": GRAIN_AGE, "limit_bal": GRAIN_LIMIT}


def median_statement(connection: Connection, filters: Filters) -> Select:
    """One row: each month's exact median bill and amount paid (`bill_m`, `paid_m`) of
    the rows of client_months that match `filters`, and how many had that month
    (`clients_m`)."""
    table = client_months
    columns = []
    for m in CHART_MONTHS:
        columns.append(median_of(connection, table.c[f"bill_{m}"]).label(f"bill_{m}"))
        columns.append(median_of(connection, table.c[f"paid_{m}"]).label(f"paid_{m}"))
        columns.append(func.count(table.c[f"bill_{m}"]).label(f"clients_{m}"))
    return select(*columns).where(filters.where(table))


def rows_by_month(result) -> list[tuple]:
    """(month, bill, paid, clients) per month, oldest first, from one of the statements
    above."""
    row = result.one()._mapping
    return [(m, row[f"bill_{m}"], row[f"paid_{m}"], row[f"clients_{m}"]) for m in CHART_MONTHS]


def median_of(connection: Connection, column):
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


def grain_of(filters: Filters) -> int:
    """The coarsest grain of payment_summary and status_moves that these filters can use."""
    return sum(bit for name, bit in RANGE_GRAINS.items() if getattr(filters, name))


def read_frame(connection: Connection, statement: Select) -> pd.DataFrame:
    result = connection.execute(statement)
    frame = pd.DataFrame(result.all(), columns=list(result.keys()))
    for name in frame.columns:
        if frame[name].dtype == object and len(frame):
            # Postgres returns sums as Decimal: whole sums become integers, the rest floats.
            numbers = pd.to_numeric(frame[name])
            whole = numbers.notna().all() and (numbers % 1 == 0).all()
            frame[name] = numbers.astype("int64") if whole else numbers
    return frame
