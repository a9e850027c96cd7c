"""Monthly median bill and amount paid: exact when few clients match (or on request),
estimated with a 95% interval from a random sample of clients under broad filters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    func,
    select,
)
from sqlalchemy.dialects import postgresql

from core.cache import QueryCache
from core.db.schema import median_sample, overall_medians, payment_summary
from core.explore.cached import run_cached
from core.explore.filters import Filters
from core.explore.sql import grain_of, median_statement, rows_by_month
from core.explore.summaries import PAYMENT_SUMMARIES
from core.settings import get_settings
from core.vocabulary import CHART_MONTHS, MONTH_LABELS

MEDIAN_COLUMNS = ["month", "label", "median_bill", "median_paid"]
MEDIAN_COLUMNS += ["bill_low", "bill_high", "paid_low", "paid_high", "median_clients"]


# When medians are estimated, and from how many clients: the settings EXACT_MEDIAN_CLIENTS,
# MEDIAN_SAMPLE_SIZE and MEDIAN_SAMPLE_TARGET (core.config).
CONFIDENCE_Z = 1.96  # the medians' intervals: 95%


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
            statement = median_statement(connection, filters)
        else:
            statement = _sample_statement(filters, sample)
        return _median_frame(rows_by_month(connection.execute(statement)))

    return run_cached(
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

    matching = clients(table.c.grain == grain_of(filters), filters.where(table))
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
    """One row like median_statement's, from the sample, each median as [low, median,
    high]: the sample's values at ranks 0.5 - half_width, 0.5 and 0.5 + half_width (order
    statistics, whose interval needs no assumption about the distribution)."""
    table = median_sample
    spread = min(sample.half_width, 0.5)
    fractions = postgresql.array([0.5 - spread, 0.5, 0.5 + spread])
    columns = []
    for m in CHART_MONTHS:
        for name in ("bill", "paid"):
            column = table.c[f"{name}_{m}"]
            columns.append(func.percentile_disc(fractions).within_group(column).label(column.name))
        columns.append(func.count(table.c[f"bill_{m}"]).label(f"clients_{m}"))
    return select(*columns).where(table.c.draw < sample.draws, filters.where(table))
