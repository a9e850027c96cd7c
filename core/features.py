"""Clients' features read back from the database in the data set's wide shape."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from core.dataset import BILLS, DEMOGRAPHICS, FEATURES, ID, PAID, STATUS
from core.db import connect
from core.models import Client, Payment
from core.status import data_version

# Typical values of the real data (medians; the most common code for categories and
# repayment status), used when the database holds no clients.
TYPICAL = {
    "LIMIT_BAL": 140_000,
    "SEX": 2,
    "EDUCATION": 2,
    "MARRIAGE": 2,
    "AGE": 34,
    **{c: 0 for c in STATUS},
    **dict(zip(BILLS, [22_217, 21_107, 20_010, 19_000, 18_060, 16_846], strict=True)),
    **dict(zip(PAID, [2_102, 2_013, 1_800, 1_500, 1_500, 1_500], strict=True)),
}
CATEGORIES = ["SEX", "EDUCATION", "MARRIAGE", *STATUS]
CLIENT_COLUMNS = {
    "LIMIT_BAL": Client.limit_bal,
    "SEX": Client.sex,
    "EDUCATION": Client.education,
    "MARRIAGE": Client.marriage,
    "AGE": Client.age,
}


def client_features(engine: Engine, client_id: int) -> dict[str, int] | None:
    """The 23 features of a loaded client, or None when no client has this id."""
    frame = _read(engine, [client_id])
    if frame.empty:
        return None
    return {name: int(frame.at[0, name]) for name in FEATURES}


def sample_features(engine: Engine, rows: int = 2_000, seed: int = 0) -> pd.DataFrame:
    """Up to `rows` loaded clients picked at random (same `seed`, same clients): ID + features."""
    with connect(engine) as connection:
        ids = np.array(connection.scalars(select(Client.id)).all(), dtype=np.int64)
    if len(ids) > rows:
        ids = np.sort(np.random.default_rng(seed).choice(ids, rows, replace=False))
    return _read(engine, ids.tolist())


def typical_values(engine: Engine) -> dict[str, int]:
    """Medians of the loaded clients (most common value for codes); TYPICAL when none."""
    return dict(_typical(engine, data_version(engine)))


@lru_cache(maxsize=8)
def _typical(engine: Engine, version: int) -> tuple[tuple[str, int], ...]:
    frame = sample_features(engine, rows=5_000)
    if frame.empty:
        return tuple(TYPICAL.items())
    return tuple(typical_of(frame).items())


def typical_of(frame: pd.DataFrame) -> dict[str, int]:
    """Typical values of a features frame: medians, and the most common value for codes."""
    values = {}
    for name in FEATURES:
        column = frame[name]
        typical = column.mode().iloc[0] if name in CATEGORIES else column.median()
        values[name] = int(round(float(typical)))
    return values


def _read(engine: Engine, ids: list[int]) -> pd.DataFrame:
    """The wide frame (ID + FEATURES) of the given clients, in id order."""
    if not ids:
        return pd.DataFrame(columns=[ID, *FEATURES], dtype=np.int64)
    client_columns = [Client.id, *CLIENT_COLUMNS.values()]
    payment_columns = [Payment.client_id, Payment.month, Payment.status]
    payment_columns += [Payment.bill_amt, Payment.pay_amt]
    clients, payments = [], []
    with connect(engine) as connection:
        for start in range(0, len(ids), 1_000):  # stay under bound-parameter limits
            chunk = ids[start : start + 1_000]
            clients += connection.execute(select(*client_columns).where(Client.id.in_(chunk))).all()
            payments += connection.execute(
                select(*payment_columns).where(Payment.client_id.in_(chunk))
            ).all()
    return _wide(clients, payments)


def _wide(clients: list, payments: list) -> pd.DataFrame:
    frame = pd.DataFrame(clients, columns=[ID, *DEMOGRAPHICS]).set_index(ID)
    if frame.empty:
        return pd.DataFrame(columns=[ID, *FEATURES], dtype=np.int64)
    long = pd.DataFrame(payments, columns=[ID, "month", "status", "bill", "paid"])
    wide = long.pivot(index=ID, columns="month")
    for prefix, names in (("status", STATUS), ("bill", BILLS), ("paid", PAID)):
        for month, name in enumerate(names, start=1):
            frame[name] = wide[(prefix, month)] if (prefix, month) in wide else 0
    frame = frame.fillna(0)  # the loader writes six months per client; be safe anyway
    frame = frame.sort_index().reset_index()
    return frame[[ID, *FEATURES]].astype(np.int64)
