"""Clients' features read back from the database in the data set's wide shape.

`features_query` is the one pivot of the six payment rows per client into the 23 features
(LIMIT_BAL ... PAY_AMT6): the training frame, the client export, scoring a loaded client and
the summaries (through `monthly_columns`) all read it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from functools import lru_cache

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, Engine, Integer, Select, cast, func, select

from core.data.status import data_version
from core.db.engine import connect
from core.db.schema import Client, Payment
from core.vocabulary import BILLS, DEMOGRAPHICS, FEATURES, ID, MONTHS, PAID, STATUS, TARGET

clients = Client.__table__
payments = Payment.__table__
# The payment columns by the data set's names: PAY_m, BILL_AMTm, PAY_AMTm.
MONTHLY = {"status": STATUS, "bill_amt": BILLS, "pay_amt": PAID}

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


def monthly_columns(name: Callable[[str, int], str] | None = None) -> list[ColumnElement]:
    """The six months of payments side by side, as aggregates over a client's payment rows
    (NULL for a missing month): status, bill and amount paid of each month, labelled with
    the data set's names, or `name(payment column, month)`."""
    columns = []
    for column, names in MONTHLY.items():
        for month in MONTHS:
            label = name(column, month) if name else names[month - 1]
            value = func.max(payments.c[column]).filter(payments.c.month == month)
            columns.append(value.label(label))
    return columns


def features_query(
    where=None, *, complete: bool = False, limit: int | None = None, offset: int = 0
) -> Select:
    """One row per client in id order: `ID`, the 23 features and `default`.

    `where` filters the clients; `complete` keeps only clients with all six months (what
    the models learn from); `limit` takes the first clients after skipping `offset`.
    """
    statement = (
        select(
            clients.c.id.label(ID),
            *(clients.c[name.lower()].label(name) for name in DEMOGRAPHICS),
            *monthly_columns(),
            cast(clients.c.defaulted, Integer).label(TARGET),
        )
        .select_from(clients.join(payments, payments.c.client_id == clients.c.id))
        .group_by(clients.c.id)
        .order_by(clients.c.id)
    )
    if where is not None:
        statement = statement.where(where)
    if complete:
        statement = statement.having(func.count() == len(MONTHS))
    if offset:
        statement = statement.offset(offset)
    return statement.limit(limit) if limit else statement


def training_frame(engine: Engine, limit: int | None = None, offset: int = 0) -> pd.DataFrame:
    """The frame the models learn from: `ID`, the 23 features and `default` of the clients
    with all six months (the first `limit` after skipping `offset`, in id order)."""
    statement = features_query(complete=True, limit=limit, offset=offset)
    with connect(engine, long=True) as connection:
        rows = connection.execute(statement).all()
    return pd.DataFrame.from_records(rows, columns=[ID, *FEATURES, TARGET]).astype(np.int64)


def training_csv_chunks(engine: Engine, chunk_size: int = 20_000) -> Iterator[bytes]:
    """The whole training frame as CSV, header first, `chunk_size` clients per chunk.

    Rows come from a server-side cursor, so the frame never sits in memory whole; the
    bytes joined equal `training_csv`. Raises DatabaseError when the database fails.
    """
    with connect(engine, long=True) as connection:
        result = connection.execution_options(stream_results=True).execute(
            features_query(complete=True)
        )
        yield _csv_bytes([[ID, *FEATURES, TARGET]])
        for rows in result.partitions(chunk_size):
            yield _csv_bytes(rows)


def _csv_bytes(rows) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue().encode()


def training_csv(engine: Engine) -> bytes:
    """The whole training frame as CSV (what the seed served at /train/data/)."""
    buffer = io.StringIO()
    training_frame(engine).to_csv(buffer, index=False)
    return buffer.getvalue().encode()


def sample_frame(frame: pd.DataFrame, size: int | None, seed: int) -> pd.DataFrame:
    """`size` rows drawn with `seed` (kept in id order), or the whole frame."""
    if not size or size >= len(frame):
        return frame
    return frame.sample(n=size, random_state=seed).sort_values(ID).reset_index(drop=True)


def _read(engine: Engine, ids: list[int]) -> pd.DataFrame:
    """The wide frame (ID + FEATURES) of the given clients, in id order."""
    rows = []
    with connect(engine) as connection:
        for start in range(0, len(ids), 1_000):  # stay under bound-parameter limits
            chunk = ids[start : start + 1_000]
            rows += connection.execute(features_query(clients.c.id.in_(chunk))).all()
    frame = pd.DataFrame.from_records(rows, columns=[ID, *FEATURES, TARGET])
    # the loader writes six months per client; a missing one reads as 0
    return frame[[ID, *FEATURES]].fillna(0).astype(np.int64)


def client_features(engine: Engine, client_id: int) -> dict[str, int] | None:
    """The 23 features of a loaded client, or None when no client has this id."""
    frame = _read(engine, [client_id])
    if frame.empty:
        return None
    return {name: int(frame.at[0, name]) for name in FEATURES}


def sample_features(engine: Engine, rows: int = 2_000, seed: int = 0) -> pd.DataFrame:
    """Up to `rows` loaded clients picked at random (same `seed`, same clients): ID + features."""
    with connect(engine) as connection:
        ids = np.array(connection.scalars(select(clients.c.id)).all(), dtype=np.int64)
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
