"""AppTest of the shell and the Home page: counts, counter, services, upload, failures."""

import shutil
from datetime import datetime

from core.data.status import LoadRecord
from dashboard.components import load_history_table
from tests.dashboard.charts import metrics

ROW = "20000,2,2,1,24,2,2,-1,-1,-2,-2,3913,3102,689,0,0,0,0,689,0,0,0,0,1"
HEADER = (
    "LIMIT_BAL,SEX,EDUCATION,MARRIAGE,AGE,PAY_1,PAY_2,PAY_3,PAY_4,PAY_5,PAY_6,BILL_AMT1,"
    "BILL_AMT2,BILL_AMT3,BILL_AMT4,BILL_AMT5,BILL_AMT6,PAY_AMT1,PAY_AMT2,PAY_AMT3,PAY_AMT4,"
    "PAY_AMT5,PAY_AMT6,default"
)


def test_shell_opens_home_with_counts_and_services(dashboard, loaded_sqlite):
    app = dashboard(DATABASE_URL=loaded_sqlite)
    assert not app.exception
    assert app.title[0].value == "Credit default dashboard"
    shown = metrics(app)
    assert shown["Clients"] == "24,000"
    assert any("the latest load was **credit.csv**" in c.value for c in app.caption)
    assert any("24,000 clients and 144,000 payment rows" in c.value for c in app.caption)
    [history] = app.dataframe
    assert history.value[["File", "Clients added", "Payment rows written"]].values.tolist() == [
        ["credit.csv", "24,000", "144,000"]
    ]
    services = [s.value for s in app.success]
    assert services[:2] == [
        f"Database: SQLite {loaded_sqlite.removeprefix('sqlite:///')} answers",
        "Cache: in-process cache (REDIS_URL not set) answers",
    ]
    assert services[2].startswith("Workers: jobs run in a local background worker process")
    assert app.expander[0].label == "Admin: services, data loads and the audit log"
    assert any("Database: SQLite" in c.value for c in app.sidebar.caption)


def test_each_visit_counts_once_on_a_real_redis(dashboard, loaded_sqlite, real_redis, redis_url):
    first = dashboard(DATABASE_URL=loaded_sqlite, REDIS_URL=redis_url)
    assert metrics(first)["Visits"] == "1"
    first.checkbox(key="upload_replace").check().run()  # a rerun is not a new visit
    assert metrics(first)["Visits"] == "1"
    second = dashboard(DATABASE_URL=loaded_sqlite, REDIS_URL=redis_url)
    assert metrics(second)["Visits"] == "2"
    assert int(real_redis.get("credit:hits")) == 2


def test_redis_down_the_page_works_and_says_why(dashboard, loaded_sqlite):
    app = dashboard(DATABASE_URL=loaded_sqlite, REDIS_URL="redis://127.0.0.1:1/0")
    assert not app.exception
    assert metrics(app)["Visits"] == "unavailable" and metrics(app)["Clients"] == "24,000"
    warnings = " ".join(w.value for w in app.warning)
    assert "The visit counter is unavailable" in warnings and "127.0.0.1:1" in warnings


def test_database_down_gives_a_readable_error(dashboard):
    app = dashboard(DATABASE_URL="postgresql://root@127.0.0.1:1/credit")
    assert not app.exception
    assert "The database is not available right now" in app.error[0].value
    assert "127.0.0.1:1" in app.error[0].value


def test_a_wrong_setting_is_named_on_the_page(dashboard):
    app = dashboard(DATABASE_URL="nonsense")
    assert not app.exception
    assert "DATABASE_URL='nonsense' is not a database URL" in app.error[0].value


def test_empty_database_explains_and_loads_an_upload(dashboard, tmp_path, real_data):
    app = dashboard(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    assert "Clients" not in metrics(app)
    assert "python -m core load" in app.info[0].value
    app.file_uploader(key="upload_file").upload("credit.csv", real_data, "text/csv").run()
    app.button(key="upload_load").click().run()
    assert not app.exception
    assert loaded_message(app).startswith(
        "Loaded credit.csv: 24,000 clients added, 0 updated, 144,000 payment rows written"
    )
    app.button(key="upload_done").click().run()
    assert metrics(app)["Clients"] == "24,000"


def test_a_bad_upload_lists_problems_and_loads_nothing(dashboard, tmp_path):
    app = dashboard(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}")
    bad = f"{HEADER}\n{ROW}\n{ROW.replace('20000,2', '20000,5', 1)}\n".encode()
    app.file_uploader(key="upload_file").upload("bad.csv", bad, "text/csv").run()
    app.button(key="upload_load").click().run()
    assert "Nothing was loaded" in app.error[0].value
    assert "line 3, column SEX: 5 is outside 1..2" in app.error[0].value
    assert "Clients" not in metrics(app)


def loaded_message(app) -> str:
    [message] = [s.value for s in app.success if s.value.startswith("Loaded ")]
    return message


def copy_of(url: str, folder) -> str:
    """A private copy of a SQLite database, for a test that loads more into it."""
    source = url.removeprefix("sqlite:///")
    target = folder / "copy.db"
    shutil.copyfile(source, target)
    return f"sqlite:///{target}"


def test_adding_a_small_file_reports_what_it_added_and_keeps_every_load(
    dashboard, loaded_sqlite, tmp_path
):
    app = dashboard(DATABASE_URL=copy_of(loaded_sqlite, tmp_path))
    fifty = "\n".join([f"ID,{HEADER}", *(f"{i},{ROW}" for i in range(24001, 24051))]).encode()
    app.file_uploader(key="upload_file").upload("clients50.csv", fifty, "text/csv").run()
    app.button(key="upload_load").click().run()
    assert not app.exception
    message = loaded_message(app)
    assert message.startswith(
        "Loaded clients50.csv: 50 clients added, 0 updated, 300 payment rows written in "
    )
    assert "The database now holds 24,050 clients and 144,300 payment rows" in message
    app.button(key="upload_done").click().run()
    assert metrics(app)["Clients"] == "24,050"
    assert any("the latest load was **clients50.csv**" in c.value for c in app.caption)
    history = app.dataframe[0].value
    assert history["File"].tolist() == ["clients50.csv", "credit.csv"]  # newest first
    assert history["Clients added"].tolist() == ["50", "24,000"]
    assert history["Clients updated"].tolist() == ["0", "0"]
    assert history["Payment rows written"].tolist() == ["300", "144,000"]
    assert history["Clients after"].tolist() == ["24,050", "24,000"]
    assert len(history["SHA-256"].iloc[0]) == 64


def test_history_rows_from_before_it_was_kept_say_so():
    old = LoadRecord(
        "old.csv",
        None,
        False,
        None,
        None,
        None,
        1_234_567,
        7_407_402,
        datetime(2025, 1, 2, 3, 4, 5),
        4,
    )
    [row] = load_history_table([old]).to_dict("records")
    assert row["Clients added"] == row["Clients updated"] == "not recorded"
    assert (row["Clients after"], row["Loaded at"]) == ("1,234,567", "2 Jan 2025, 03:04 UTC")
