"""The Score page's "The whole portfolio" tab (AppTest, a real RQ worker on the test
Redis) for every role that may score, and its pure helpers and figure."""

import json
import secrets

import pytest

from core import portfolio
from core.auth import ROLES, SYSTEM, Actor, add_user
from core.db.engine import make_engine
from core.ml.registry import set_champion
from dashboard import portfolio as section
from dashboard.charts.portfolio import APPROVE, DECLINE, distribution, reasons
from tests.core.test_jobs import run_rq_burst
from tests.dashboard.charts import texts
from tests.jobs_support import load_clients, rq_runner
from tests.trained import register

PAGE = "../pages/score.py"


@pytest.fixture
def portfolio_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'credit.db'}"
    engine = make_engine(url)
    load_clients(engine, rows=800)
    register(engine, "1.0", "lr")
    register(engine, "1.1", "dt")
    set_champion(engine, "1.0")
    yield url, engine
    engine.dispose()


def test_a_run_started_on_the_tab_shows_its_summary_and_changes(
    dashboard, portfolio_sqlite, real_redis, redis_url
):
    url, engine = portfolio_sqlite
    app = dashboard(PAGE, DATABASE_URL=url, REDIS_URL=redis_url)
    assert not app.exception
    start = app.button(key="portfolio_start")
    assert not start.disabled and "version 1.0" in start.label
    app.number_input(key="portfolio_lgd").set_value(0.5)
    start.click().run()
    assert not app.exception and not app.error
    run_rq_burst(rq_runner(engine, real_redis))
    app.run()
    run = portfolio.finished_run(engine)
    assert run is not None and run.lgd == 0.5
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Clients scored"] == "800"
    assert metrics["Expected loss"] == section.money(run.summary["expected_loss"])
    assert metrics["Declined"] == f"{run.summary['decisions']['decline']:,}"
    chart = next(c for c in app.get("plotly_chart") if c.key == "portfolio_distribution")
    assert json.loads(chart.proto.spec)["data"][0]["y"] == run.summary["histogram"]["counts"]
    assert any("No earlier run by another champion" in m.value for m in app.markdown)
    if run.summary["decisions"]["decline"]:
        why = next(c for c in app.get("plotly_chart") if c.key == "portfolio_reasons")
        shown = {t["name"]: t["x"] for t in json.loads(why.proto.spec)["data"]}
        assert 0 < sum(shown["first reason"]) <= run.summary["decisions"]["decline"]

    set_champion(engine, "1.1", reason="a new champion for this test")
    app.selectbox(key="score_version").set_value("1.1").run()
    app.button(key="portfolio_start").click().run()
    run_rq_burst(rq_runner(engine, real_redis))
    app.run()
    changes = portfolio.finished_run(engine).summary["changes"]
    assert changes["previous_run"] == run.id
    said = f"{changes['now_declined']:,} would now be declined"
    assert any(said in m.value for m in app.markdown)


def test_the_helpers_format_money_decisions_and_changes():
    assert section.money(1234567.4) == "NT$ 1,234,567"
    summary = {"clients": 4, "decisions": {"approve": 3, "decline": 1}}
    table = section.decisions_table(summary)
    assert table["Clients"].tolist() == [3, 1] and table["Share"].tolist() == ["75.0%", "25.0%"]
    changes = {
        "previous_run": 3, "previous_version": "1.0", "compared": 10, "now_declined": 2,
        "now_approved": 1,
        "listed": {"now_declined": [{"client_id": 7, "before": 0.2, "after": 0.61,
                                     "reasons": "late_payments,low_limit"}],
                   "now_approved": [{"client_id": 8, "before": 0.7, "after": 0.4,
                                     "reasons": ""}]},
    }  # fmt: skip
    assert "**2 would now be declined**" in section.changes_text(changes)
    assert section.changes_table(changes, "now_declined").values.tolist() == [
        [7, "20.0%", "61.0%", "recent late payments; low credit limit"]
    ]
    assert section.changes_table(changes, "now_approved").columns.tolist() == [
        "Client", "Before", "Now"
    ]  # fmt: skip


def test_the_most_common_first_reason_is_said_in_words():
    summary = {"decisions": {"approve": 60, "decline": 40},
               "reasons": {"first": {"late_payments": 30, "low_limit": 10}, "any": {}}}  # fmt: skip
    assert section.top_reason_text(summary) == (
        "Declined clients' most common first reason: **recent late payments** (30 of 40, 75%)."
    )
    assert section.top_reason_text({**summary, "reasons": None}) is None  # an older run
    assert section.top_reason_text({**summary, "decisions": {"decline": 0}}) is None


def test_the_reasons_chart_counts_declined_clients_by_reason():
    counted = {"first": {"late_payments": 30, "low_limit": 10},
               "any": {"late_payments": 35, "low_limit": 25, "high_balances": 5}}  # fmt: skip
    figure = reasons(counted, 40)
    first = next(trace for trace in figure.data if trace.name == "first reason")
    assert list(first.y) == ["high balances", "low credit limit", "recent late payments"]
    assert list(first.x) == [0, 10, 30]
    assert list(first.text) == ["", "10 (25%)", "30 (75%)"]  # no label on an empty bar
    assert "education" not in first.y  # no declined client has it


def test_the_distribution_colours_bins_by_the_threshold():
    histogram = {"edges": [0, 0.25, 0.5, 0.75, 1], "counts": [5, 4, 2, 1]}
    figure = distribution(histogram, 0.5)
    bar = figure.data[0]
    assert list(bar.y) == [5, 4, 2, 1]
    assert list(bar.marker.color) == [APPROVE, APPROVE, DECLINE, DECLINE]


PASSWORD = secrets.token_urlsafe(12)
TAB = "The whole portfolio"


@pytest.mark.parametrize("role", ROLES)
def test_every_role_that_may_score_has_the_tab_and_starts_runs_as_itself(
    dashboard, portfolio_sqlite, real_redis, redis_url, role
):
    """Scoring needs the analyst role: analysts and admins get the tab with its start
    button; a viewer opening the Score page is told which role it needs, nothing fails."""
    url, engine = portfolio_sqlite
    add_user(engine, "sam", PASSWORD, role, actor=SYSTEM)
    app = dashboard(DATABASE_URL=url, REDIS_URL=redis_url)
    app.text_input(key="login_name").input("sam")
    app.text_input(key="login_password").input(PASSWORD)
    app.button(key="login_submit").click().run()
    app.switch_page(PAGE).run()
    assert not app.exception
    if not Actor("sam", role).may("score"):
        assert not [tab for tab in app.tabs if tab.label == TAB]
        assert "The Score page needs the analyst role" in texts(app.error)
        return
    tab = next(tab for tab in app.tabs if tab.label == TAB)
    start = next(button for button in tab.button if button.key == "portfolio_start")
    assert not start.disabled and "version 1.0" in start.label
    start.click().run()
    assert not app.exception and not app.error
    run = portfolio.list_runs(engine, limit=1)[0]
    assert run.submitted_by == "sam" and run.state == "queued"
