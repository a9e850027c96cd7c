"""`python -m core load` as a user runs it, in a subprocess."""

from core.data.status import data_status
from core.db.engine import make_engine
from tests.cli_support import ROOT, run_cli

HEADER = (
    "LIMIT_BAL,SEX,EDUCATION,MARRIAGE,AGE,PAY_1,PAY_2,PAY_3,PAY_4,PAY_5,PAY_6,BILL_AMT1,"
    "BILL_AMT2,BILL_AMT3,BILL_AMT4,BILL_AMT5,BILL_AMT6,PAY_AMT1,PAY_AMT2,PAY_AMT3,PAY_AMT4,"
    "PAY_AMT5,PAY_AMT6,default"
)
ROW = "20000,2,2,1,24,2,2,-1,-1,-2,-2,3913,3102,689,0,0,0,0,689,0,0,0,0,1"


def test_load_then_load_if_empty_then_add_and_update(database_url, engine, tmp_path):
    done = run_cli("load", DATABASE_URL=database_url)  # CREDIT_DATA names the real file
    assert done.returncode == 0, done.stderr
    assert ": 24,000 clients added, 0 updated, 144,000 payment rows written" in done.stdout
    assert "now holds 24,000 clients and 144,000 payment rows (data version 1)" in done.stdout
    again = run_cli("load", "--if-empty", DATABASE_URL=database_url)
    assert "already has data; nothing loaded" in again.stdout
    assert data_status(engine).version == 1
    more = tmp_path / "three.csv"
    more.write_text("\n".join([f"ID,{HEADER}", *(f"{i},{ROW}" for i in (23999, 24000, 24001))]))
    added = run_cli("load", "--csv", str(more), DATABASE_URL=database_url)
    assert added.returncode == 0, added.stderr
    assert f"loaded {more}: 1 clients added, 2 updated, 18 payment rows written" in added.stdout
    assert "now holds 24,001 clients and 144,006 payment rows (data version 2)" in added.stdout


def test_synthetic_replace(database_url, engine):
    done = run_cli("load", "--synthetic", "500", "--replace", DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    assert data_status(engine).clients == 500


def test_a_bad_file_is_reported_by_line_and_nothing_is_loaded(tmp_path, database_url, engine):
    bad = tmp_path / "bad.csv"
    bad.write_text("LIMIT_BAL,SEX\n1,2\n")
    done = run_cli("load", "--csv", str(bad), DATABASE_URL=database_url)
    assert done.returncode == 1
    assert "nothing was written" in done.stderr and "missing columns: EDUCATION" in done.stderr
    assert "Traceback" not in done.stderr
    assert data_status(engine).empty


def test_unreachable_database_is_one_readable_line(tmp_path):
    done = run_cli("load", "--synthetic", "5", DATABASE_URL="postgresql://root@127.0.0.1:1/none")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "database PostgreSQL 127.0.0.1:1/none is unavailable: connection refused" in done.stderr


def test_core_never_imports_streamlit():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "core").rglob("*.py")
        if "import streamlit" in path.read_text() or "from streamlit" in path.read_text()
    ]
    assert offenders == []


def test_fresh_sqlite_default_lives_under_data(tmp_path):
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'credit.db'}"
    assert data_status(make_engine(url)).empty
    assert (tmp_path / "nested" / "dir" / "credit.db").exists()
