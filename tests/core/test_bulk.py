"""The one bulk writer, on SQLite and Postgres: insert, upsert, awkward values, failures."""

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from sqlalchemy import text

from core.db.bulk import write_rows
from core.db.engine import DatabaseError
from core.db.schema import Prediction


def rows(engine, sql: str) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(sql))]


def clients(ids, limit=1000) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ids,
            "limit_bal": limit,
            "sex": 1,
            "education": 2,
            "marriage": 1,
            "age": 30,
            "defaulted": [i % 2 == 0 for i in ids],
        }
    )


def test_rows_are_inserted_then_upserted_by_key(engine):
    with engine.begin() as connection:
        write_rows(connection, "clients", clients([1, 2, 3]))
    with engine.begin() as connection:
        write_rows(connection, "clients", clients([3, 4], limit=5000), upsert_on=["id"])
    assert rows(engine, "SELECT id, limit_bal, defaulted FROM clients ORDER BY id") == [
        (1, 1000, False),
        (2, 1000, True),
        (3, 5000, False),
        (4, 5000, True),
    ]


def test_text_with_commas_quotes_and_json_and_aware_times_round_trip(engine):
    created = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    inputs = {"note": 'a "quoted", comma\tand tab', "LIMIT_BAL": 20000}
    frame = pd.DataFrame(
        {
            "created_at": [created, created],
            "version": ["1.0", "1.1"],
            "inputs": [json.dumps(inputs), json.dumps({})],
            "probability": [0.123456789012345, 1.0],
            "label": [0, 1],
            "threshold": [0.5, 0.5],
            "source": ["form", "api"],
        }
    )
    with engine.begin() as connection:
        write_rows(connection, "predictions", frame)
    table = Prediction.__table__
    with engine.connect() as connection:
        stored = connection.execute(table.select().order_by(table.c.id)).mappings().all()
    assert [row["inputs"] for row in stored] == [inputs, {}]
    assert stored[0]["probability"] == 0.123456789012345
    assert [row["version"] for row in stored] == ["1.0", "1.1"]
    when = stored[0]["created_at"]  # SQLite gives naive UTC back
    assert (when if when.tzinfo else when.replace(tzinfo=UTC)) == created


def test_written_is_told_each_chunk(engine):
    seen = []
    with engine.begin() as connection:
        frame = clients(list(range(1, 11)))
        write_rows(connection, "clients", frame, written=seen.append, chunk=4)
    assert seen == [4, 4, 2]
    assert rows(engine, "SELECT count(*) FROM clients") == [(10,)]


def test_a_database_failure_is_a_readable_error_and_the_transaction_rolls_back(engine):
    with engine.begin() as connection:
        write_rows(connection, "clients", clients([1, 2]))
    with pytest.raises(DatabaseError, match="is unavailable: .*(unique|UNIQUE|duplicate)"):
        with engine.begin() as connection:
            write_rows(connection, "clients", clients([7]))
            write_rows(connection, "clients", clients([2, 8]))  # 2 exists: no upsert asked
    assert rows(engine, "SELECT id FROM clients ORDER BY id") == [(1,), (2,)]


def test_an_empty_frame_writes_nothing(engine):
    with engine.begin() as connection:
        write_rows(connection, "clients", clients([]))
    assert rows(engine, "SELECT count(*) FROM clients") == [(0,)]
