"""The Payments page's monthly totals, status shares and status transitions, summed from
`payment_summary` and `status_moves` at the coarsest grain the filters allow.
"""

from __future__ import annotations

import operator
from functools import reduce

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    func,
    select,
)

from core.cache import QueryCache
from core.db.schema import payment_summary, status_moves
from core.explore.cached import frame_query, run_cached
from core.explore.filters import Filters
from core.explore.medians import MEDIAN_COLUMNS, payment_medians
from core.explore.sql import PAIRS, grain_of
from core.explore.summaries import PAYMENT_SUMMARIES
from core.vocabulary import CHART_MONTHS, GROUP_KEYS, MONTH_LABELS

# payment_totals' columns; payment_months adds the medians after the group counts.
TOTAL_COLUMNS = ["month", "label", "clients", "total_bill", "total_paid", *GROUP_KEYS]
TOTAL_COLUMNS += [f"share: {name}" for name in GROUP_KEYS]
MONTH_COLUMNS = TOTAL_COLUMNS[: 5 + len(GROUP_KEYS)] + MEDIAN_COLUMNS[2:]
MONTH_COLUMNS += TOTAL_COLUMNS[5 + len(GROUP_KEYS) :]


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
        for m in CHART_MONTHS:
            groups = [table.c[f"{key}_{m}"] for key in GROUP_KEYS.values()]
            sums.append(func.sum(reduce(operator.add, groups)).label(f"clients_{m}"))
            sums.append(func.sum(table.c[f"bill_{m}"]).label(f"total_bill_{m}"))
            sums.append(func.sum(table.c[f"paid_{m}"]).label(f"total_paid_{m}"))
            sums += [func.sum(column).label(f"{column.name}") for column in groups]
        where = [table.c.grain == grain_of(filters), filters.where(table)]
        row = connection.execute(select(*sums).where(*where)).one()._mapping
        records = []
        for m in CHART_MONTHS:
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
    return run_cached(engine, cache, name, params, compute, needs=PAYMENT_SUMMARIES, heavy=True)


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

    def statement() -> Select:
        table = status_moves
        pairs = PAIRS if month is None else (month,)
        moved = func.sum(reduce(operator.add, (table.c[f"into_{m}"] for m in pairs)))
        return (
            select(table.c.from_status, table.c.to_status, moved.label("clients"))
            .where(table.c.grain == grain_of(filters), filters.where(table))
            .group_by(table.c.from_status, table.c.to_status)
            .having(moved > 0)
            .order_by(table.c.from_status, table.c.to_status)
        )

    params = {**filters.to_query(), "month": month}
    return frame_query(engine, cache, "status_transitions", params, statement, heavy=True)
