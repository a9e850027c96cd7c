"""The explore questions of core.queries computed in pandas on whole tables in memory.

This is the way the seed's successors would do it without SQL: read every row, filter and
aggregate in Python. bench/queries.py measures it as the baseline, and the tests check the
SQL answers against it. Frames have the database columns (`clients`: id, limit_bal, sex,
education, marriage, age, defaulted; `payments`: client_id, month, status, bill_amt,
pay_amt), and results have the same shape as core.queries returns.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, text

from core.explore.clients import LIMIT_BIN, Figures
from core.explore.filters import CHOICES, RANGES, Filters, label
from core.explore.payments import join_medians
from core.vocabulary import CHART_MONTHS, MONTH_LABELS, STATUS_GROUPS


def read_tables(engine: Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every client and payment row as two frames (the baseline's first step)."""
    return read_clients(engine), read_payments(engine)


def read_clients(engine: Engine) -> pd.DataFrame:
    with engine.connect() as connection:
        clients = pd.read_sql(text("SELECT * FROM clients"), connection)
    clients["defaulted"] = clients["defaulted"].astype(bool)
    return clients


def read_payments(engine: Engine) -> pd.DataFrame:
    with engine.connect() as connection:
        return pd.read_sql(text("SELECT * FROM payments"), connection)


def matching(clients: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The clients that the filters select."""
    keep = pd.Series(True, index=clients.index)
    for name in CHOICES:
        if codes := getattr(filters, name):
            keep &= clients[name].isin(codes)
    for name in RANGES:
        if bounds := getattr(filters, name):
            keep &= clients[name].between(*bounds)
    if filters.defaulted is not None:
        keep &= clients["defaulted"] == filters.defaulted
    return clients[keep]


def figures(clients: pd.DataFrame, filters: Filters) -> Figures:
    chosen = matching(clients, filters)
    if chosen.empty:
        return Figures(0, None, None, None)
    return Figures(
        len(chosen),
        float(chosen["age"].mean()),
        float(chosen["defaulted"].mean()),
        float(chosen["limit_bal"].mean()),
    )


def age_distribution(clients: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    chosen = matching(clients, filters)
    return _counts(chosen.groupby(["age", "defaulted"]).size())


def default_rates(clients: pd.DataFrame, filters: Filters, by: str) -> pd.DataFrame:
    chosen = matching(clients, filters)
    grouped = chosen.groupby(by)["defaulted"].agg(clients="size", defaulted="sum")
    frame = grouped.reset_index().rename(columns={by: "code"})
    frame.insert(1, "label", [label(by, code) for code in frame["code"]])
    frame["rate"] = frame["defaulted"] / frame["clients"]
    return frame


def limit_distribution(clients: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    chosen = matching(clients, filters)
    band = (chosen["limit_bal"] // LIMIT_BIN * LIMIT_BIN).rename("band")
    return _counts(chosen.groupby([band, "defaulted"]).size())


def client_table(
    clients: pd.DataFrame,
    filters: Filters,
    *,
    sort: str = "id",
    descending: bool = False,
    page: int = 1,
    page_size: int = 25,
) -> pd.DataFrame:
    keys = [sort] if sort == "id" else [sort, "id"]
    chosen = matching(clients, filters).sort_values(keys, ascending=not descending)
    start = (page - 1) * page_size
    return chosen.iloc[start : start + page_size].reset_index(drop=True)


def payment_totals(clients: pd.DataFrame, payments: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    rows = _payments_of(clients, payments, filters)
    frame = rows.groupby("month").agg(
        clients=("status", "size"),
        total_bill=("bill_amt", "sum"),
        total_paid=("pay_amt", "sum"),
    )
    for name, low, high in STATUS_GROUPS:
        frame[name] = rows["status"].between(low, high).groupby(rows["month"]).sum()
    frame = _by_month(frame)
    for name, _, _ in STATUS_GROUPS:
        frame[f"share: {name}"] = frame[name] / frame["clients"]
    return frame


def payment_medians(
    clients: pd.DataFrame, payments: pd.DataFrame, filters: Filters
) -> pd.DataFrame:
    """Exact medians: each interval is the median itself."""
    grouped = _payments_of(clients, payments, filters).groupby("month")
    bill, paid = grouped["bill_amt"].median(), grouped["pay_amt"].median()
    frame = pd.DataFrame({"median_bill": bill, "median_paid": paid})
    frame = frame.assign(bill_low=bill, bill_high=bill, paid_low=paid, paid_high=paid)
    frame["median_clients"] = grouped["bill_amt"].count()
    return _by_month(frame)


def payment_months(clients: pd.DataFrame, payments: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    totals = payment_totals(clients, payments, filters)
    return join_medians(totals, payment_medians(clients, payments, filters))


def _by_month(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows indexed by month as the oldest-first frame of core.queries, with labels."""
    frame = frame.reindex([m for m in CHART_MONTHS if m in frame.index]).reset_index()
    frame.insert(1, "label", frame["month"].map(MONTH_LABELS))
    return frame


def status_transitions(
    clients: pd.DataFrame, payments: pd.DataFrame, filters: Filters, month: int | None = None
) -> pd.DataFrame:
    rows = _payments_of(clients, payments, filters)
    later = rows[["client_id", "month", "status"]]
    earlier = later.assign(month=later["month"] - 1)  # month m + 1 is the month before m
    pairs = later.merge(earlier, on=["client_id", "month"], suffixes=("_to", "_from"))
    if month is not None:
        pairs = pairs[pairs["month"] == month]
    counts = pairs.groupby(["status_from", "status_to"]).size()
    frame = counts.rename("clients").reset_index()
    return frame.rename(columns={"status_from": "from_status", "status_to": "to_status"})


def _payments_of(clients: pd.DataFrame, payments: pd.DataFrame, filters: Filters):
    if filters.empty:
        return payments
    return payments[payments["client_id"].isin(matching(clients, filters)["id"])]


def _counts(sizes: pd.Series) -> pd.DataFrame:
    return sizes.rename("clients").reset_index()
