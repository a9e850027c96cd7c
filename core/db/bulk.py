"""One bulk writer for frames of rows: COPY on Postgres, executemany on SQLite.

The data loader and the prediction log both write through `write_rows`, inside the
caller's transaction, so a failure part-way leaves nothing behind once it rolls back.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence

import pandas as pd
from sqlalchemy import Connection

from core.db.engine import DatabaseError, describe_error
from core.db.timeouts import transaction_timeout

CHUNK = 100_000
# How SQLAlchemy stores a DateTime on SQLite: naive UTC text.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"

Written = Callable[[int], None]


def write_rows(
    connection: Connection,
    table: str,
    rows: pd.DataFrame,
    *,
    upsert_on: Sequence[str] = (),
    written: Written | None = None,
    chunk: int = CHUNK,
) -> None:
    """Write every row of `rows` into `table`, in chunks, in the caller's transaction.

    The frame's columns are the table's column names. With `upsert_on` (the key columns of
    a unique constraint), a row whose key already exists replaces that row's other
    columns; without it every row is inserted. Rows go in chunks of `chunk`, and
    `written(n)` is called after each with the number of rows it held. Postgres gets the
    rows by COPY (into a temporary staging table first when upserting), SQLite by
    executemany. A failure of the database raises DatabaseError; the caller's transaction
    then rolls everything back.
    """
    if rows.empty:
        return
    writer = _copy if connection.dialect.name == "postgresql" else _insert
    try:
        writer(connection, table, rows, list(upsert_on), written, chunk)
    except connection.dialect.loaded_dbapi.Error as exc:
        timeout = transaction_timeout(connection)
        raise DatabaseError(describe_error(connection.engine, exc, timeout=timeout)) from exc


def _chunks(rows: pd.DataFrame, size: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(rows), size):
        yield rows.iloc[start : start + size]


def _copy(connection: Connection, table: str, rows, keys: list[str], written, size) -> None:
    columns = list(rows.columns)
    target = f"staging_{table}" if keys else table
    if keys:
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE {target} (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
        )
    cursor = connection.connection.driver_connection.cursor()
    sql = f"COPY {target} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"
    with cursor.copy(sql) as copy:
        for chunk in _chunks(rows, size):
            buffer = io.StringIO()
            chunk.to_csv(buffer, header=False, index=False)
            copy.write(buffer.getvalue())
            if written:
                written(len(chunk))
    if keys:
        select_rows = f"SELECT {', '.join(columns)} FROM {target}"
        connection.exec_driver_sql(_upsert_sql(table, columns, keys, select_rows))
        connection.exec_driver_sql(f"DROP TABLE {target}")


def _insert(connection: Connection, table: str, rows, keys: list[str], written, size) -> None:
    columns = list(rows.columns)
    rows_sql = f"VALUES ({', '.join('?' for _ in columns)})"
    sql = (
        _upsert_sql(table, columns, keys, rows_sql)
        if keys
        else f"INSERT INTO {table} ({', '.join(columns)}) {rows_sql}"
    )
    cursor = connection.connection.driver_connection.cursor()
    for chunk in _chunks(_sqlite_values(rows), size):
        cursor.executemany(sql, chunk.itertuples(index=False, name=None))
        if written:
            written(len(chunk))


def _sqlite_values(rows: pd.DataFrame) -> pd.DataFrame:
    """Timezone-aware datetimes as the naive UTC text that SQLAlchemy reads back."""
    stamps = [c for c in rows.columns if isinstance(rows[c].dtype, pd.DatetimeTZDtype)]
    if not stamps:
        return rows
    return rows.assign(
        **{c: rows[c].dt.tz_convert("UTC").dt.strftime(SQLITE_DATETIME) for c in stamps}
    )


def _upsert_sql(table: str, columns: list[str], keys: list[str], rows_sql: str) -> str:
    """INSERT of `rows_sql` (VALUES or SELECT) that updates the rows whose `keys` exist."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) {rows_sql} "
        f"ON CONFLICT ({', '.join(keys)}) {action}"
    )
