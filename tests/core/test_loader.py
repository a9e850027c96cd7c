"""Loading into SQLite and Postgres: counts, idempotence, replace, all or nothing."""

import hashlib
import io
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from core.data import loader
from core.data.dataset import DataError, parse_csv, validate_frame
from core.data.loader import SourceError, find_source, load_file, load_frame, read_source
from core.data.status import data_status, data_version, load_history
from core.data.synthetic import synthetic
from core.db.engine import DatabaseError, make_engine, migrate
from core.db.schema import Dataset
from tests.conftest import fresh_postgres, postgres_url
from tests.migrations_support import database_at
from tests.tcp_proxy import TcpProxy

HEADER = (
    "LIMIT_BAL,SEX,EDUCATION,MARRIAGE,AGE,PAY_1,PAY_2,PAY_3,PAY_4,PAY_5,PAY_6,BILL_AMT1,"
    "BILL_AMT2,BILL_AMT3,BILL_AMT4,BILL_AMT5,BILL_AMT6,PAY_AMT1,PAY_AMT2,PAY_AMT3,PAY_AMT4,"
    "PAY_AMT5,PAY_AMT6,default"
)
ROW = "20000,2,2,1,24,2,2,-1,-1,-2,-2,3913,3102,689,0,0,0,0,689,0,0,0,0,1"
THREE_CLIENTS = f"{HEADER}\n{ROW}\n{ROW}\n{ROW}\n".encode()


def table(engine, name: str) -> pd.DataFrame:
    key = "id" if name == "clients" else "client_id, month"
    with engine.connect() as connection:
        return pd.read_sql(text(f"SELECT * FROM {name} ORDER BY {key}"), connection)


def test_real_file_loads_every_client_and_month(engine, real_data):
    result = load_file(engine, real_data, "credit.csv")
    assert (result.clients, result.payments) == (24000, 144000)
    clients, payments = table(engine, "clients"), table(engine, "payments")
    first = clients.iloc[0]
    assert (first["id"], first["limit_bal"], first["sex"], first["age"]) == (1, 20000, 2, 24)
    assert bool(first["defaulted"]) is True
    months = payments[payments.client_id == 1].set_index("month")
    assert months["status"].tolist() == [2, 2, -1, -1, -2, -2]
    assert months["bill_amt"].tolist() == [3913, 3102, 689, 0, 0, 0]
    assert months["pay_amt"].tolist() == [0, 689, 0, 0, 0, 0]
    frame = parse_csv(real_data)
    assert clients["defaulted"].astype(int).sum() == frame["default"].sum()
    assert payments["bill_amt"].sum() == frame.filter(like="BILL_AMT").to_numpy().sum()


def test_status_tells_source_counts_and_version(engine, real_data):
    assert data_status(engine).empty and data_version(engine) == 0
    load_file(engine, real_data, "credit.csv")
    status = data_status(engine)
    assert (status.clients, status.payments, status.source) == (24000, 144000, "credit.csv")
    assert status.loaded_at is not None and status.version == 1


def test_loading_the_same_file_twice_leaves_the_same_rows(engine, real_data):
    load_file(engine, real_data, "credit.csv")
    before = table(engine, "clients"), table(engine, "payments")
    second = load_file(engine, real_data, "credit.csv")
    assert second.clients == 24000 and second.version == 2
    pd.testing.assert_frame_equal(table(engine, "clients"), before[0])
    pd.testing.assert_frame_equal(table(engine, "payments"), before[1])


def test_a_load_without_replace_adds_and_updates_by_id(engine):
    load_frame(engine, validate_frame(synthetic(50)), "first")
    changed = synthetic(80, seed=9)
    load_frame(engine, validate_frame(changed), "second")
    clients = table(engine, "clients")
    assert len(clients) == 80
    assert clients["limit_bal"].tolist() == changed["LIMIT_BAL"].tolist()


def test_a_load_reports_what_it_added_and_updated(engine):
    first = load_frame(engine, validate_frame(synthetic(50)), "first")
    assert (first.clients_added, first.clients_updated, first.payments_written) == (50, 0, 300)
    second = load_frame(engine, validate_frame(synthetic(80, seed=9)), "second")
    assert (second.clients_added, second.clients_updated, second.payments_written) == (
        30,
        50,
        480,
    )
    assert (second.clients, second.payments, second.version) == (80, 480, 2)
    assert second.report().startswith("second: 30 clients added, 50 updated, 480 payment rows")
    assert "The database now holds 80 clients and 480 payment rows (data version 2)." in (
        second.report()
    )


def test_every_load_is_kept_in_the_history_newest_first(engine):
    load_frame(engine, validate_frame(synthetic(50)), "first")
    load_frame(engine, validate_frame(synthetic(80, seed=9)), "second")
    load_file(engine, THREE_CLIENTS, "three.csv", replace=True)
    history = load_history(engine)
    assert [h.source for h in history] == ["three.csv", "second", "first"]
    assert [h.version for h in history] == [3, 2, 1]
    assert [h.clients_added for h in history] == [3, 30, 50]
    assert [h.clients_updated for h in history] == [0, 50, 0]
    assert [h.payments_written for h in history] == [18, 480, 300]
    assert [h.replaced for h in history] == [True, False, False]
    assert [(h.clients, h.payments) for h in history] == [(3, 18), (80, 480), (50, 300)]
    assert history[0].sha256 == hashlib.sha256(THREE_CLIENTS).hexdigest()
    assert history[1].sha256 is None  # a frame, not a file
    assert history[0].loaded_at >= history[1].loaded_at >= history[2].loaded_at
    assert history[0].loaded_at.utcoffset() == timedelta(0)
    assert [h.source for h in load_history(engine, limit=1)] == ["three.csv"]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_data_loaded_before_the_history_gets_one_row_of_unknown_counts(backend, tmp_path):
    engine = database_at(backend, tmp_path, "0007")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO dataset (id, version, source, sha256, clients, payments, loaded_at)"
                " VALUES (1, 4, 'old.csv', NULL, 7, 42, '2025-01-02 03:04:05')"
            )
        )
    migrate(engine)
    [old] = load_history(engine)
    assert (old.source, old.version, old.clients, old.payments) == ("old.csv", 4, 7, 42)
    assert (old.clients_added, old.clients_updated, old.payments_written) == (None, None, None)
    engine.dispose()


def test_replace_swaps_the_data_set(engine, real_data):
    load_file(engine, real_data, "credit.csv")
    load_frame(engine, validate_frame(synthetic(30)), "synthetic", replace=True)
    assert len(table(engine, "clients")) == 30 and len(table(engine, "payments")) == 180
    assert data_status(engine).source == "synthetic"


def test_a_bad_file_writes_nothing(engine, real_data):
    load_file(engine, real_data, "credit.csv")
    before = table(engine, "clients")
    bad = real_data + b"20000,2,2,1,24,2,2,-1,-1,-2,-2,3913,3102,689,0,0,0,0,689,0,0,0,0,7\n"
    with pytest.raises(DataError, match="line 24002, column default: 7 is outside 0..1"):
        load_file(engine, bad, "bad.csv", replace=True)
    pd.testing.assert_frame_equal(table(engine, "clients"), before)
    assert data_status(engine).source == "credit.csv"
    assert [h.source for h in load_history(engine)] == ["credit.csv"]


def test_a_failure_while_writing_rolls_everything_back(engine, real_data):
    load_frame(engine, validate_frame(synthetic(40)), "before")

    def fail_after_clients(done, total):
        if done > 24000:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        load_file(engine, real_data, "credit.csv", replace=True, progress=fail_after_clients)
    assert len(table(engine, "clients")) == 40 and len(table(engine, "payments")) == 240
    with engine.connect() as connection:
        assert connection.scalar(select(Dataset.source)) == "before"
    assert [h.source for h in load_history(engine)] == ["before"]


def test_a_database_lost_while_writing_leaves_nothing_half_written(real_data):
    url = make_url(postgres_url())
    direct = fresh_postgres(postgres_url())
    load_frame(direct, validate_frame(synthetic(40)), "before")
    with TcpProxy(url.host, url.port or 5432) as proxy:
        through_proxy = url.set(host="127.0.0.1", port=proxy.port)
        engine = make_engine(through_proxy.render_as_string(hide_password=False))

        def cut_after_clients(done, total):
            if done >= 24000:
                proxy.stop()

        with pytest.raises(DatabaseError, match="is unavailable"):
            load_file(engine, real_data, "credit.csv", replace=True, progress=cut_after_clients)
        engine.dispose()
    assert len(table(direct, "clients")) == 40 and len(table(direct, "payments")) == 240
    assert [h.source for h in load_history(direct)] == ["before"]
    direct.dispose()


def test_progress_reaches_the_total(engine):
    seen = []
    load_frame(
        engine,
        validate_frame(synthetic(250_000 // 7)),
        "s",
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1][0] == seen[-1][1] == 7 * (250_000 // 7)
    assert len(seen) > 2 and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_synthetic_clients_are_valid_and_plausible():
    frame = validate_frame(synthetic(20_000))
    assert len(frame) == 20_000 and frame["ID"].is_unique
    assert 0.1 < frame["default"].mean() < 0.35
    assert set(frame["EDUCATION"].unique()) <= set(range(7))
    assert frame.equals(validate_frame(synthetic(20_000)))  # seeded: repeatable


def test_source_order_is_csv_then_setting_then_cache_then_download(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "CACHED_COPY", tmp_path / "credit.csv")
    assert find_source("a.csv", "b.csv") == "a.csv"
    assert find_source(None, "b.csv") == "b.csv"
    assert find_source(None, None) == loader.DOWNLOAD_URL
    (tmp_path / "credit.csv").write_text("x")
    assert find_source(None, None) == str(tmp_path / "credit.csv")


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_is_checked_and_cached(tmp_path, monkeypatch, real_data):
    monkeypatch.setattr(loader, "CACHED_COPY", tmp_path / "cache" / "credit.csv")
    monkeypatch.setattr(
        loader.urllib.request, "urlopen", lambda url, timeout: FakeResponse(real_data)
    )
    assert hashlib.sha256(read_source(loader.DOWNLOAD_URL)).hexdigest() == loader.DOWNLOAD_SHA256
    assert (tmp_path / "cache" / "credit.csv").read_bytes() == real_data


def test_a_tampered_download_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(loader, "CACHED_COPY", tmp_path / "credit.csv")
    monkeypatch.setattr(loader.urllib.request, "urlopen", lambda url, timeout: FakeResponse(b"x"))
    with pytest.raises(SourceError, match="expected 0f2c8fcc"):
        read_source(loader.DOWNLOAD_URL)
    assert not (tmp_path / "credit.csv").exists()


def test_no_reachable_source_names_the_ways_out(monkeypatch, tmp_path):
    def offline(url, timeout):
        raise OSError("network is unreachable")

    monkeypatch.setattr(loader.urllib.request, "urlopen", offline)
    with pytest.raises(SourceError, match="--csv PATH.*--synthetic N"):
        read_source(loader.DOWNLOAD_URL)
    with pytest.raises(SourceError, match="no data file at"):
        read_source(str(tmp_path / "missing.csv"))
