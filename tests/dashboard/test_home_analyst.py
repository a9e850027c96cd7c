"""AppTest of Home for analysts: the portfolio's figures, the champion panel, the latest
job, the stability verdict and the latest portfolio run (made by core on a real RQ worker),
each equal to what core says; and the panels' words."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from core import explore, portfolio
from core.db.engine import make_engine
from core.jobs.store import Job
from core.ml.registry import set_champion
from core.overview import ChampionCard, portfolio_runs
from core.overview import portfolio as portfolio_figures
from core.portfolio.store import mark_failed
from core.portfolio.work import score_part
from core.serving.stability import Index, score_stability
from dashboard.formats import money
from dashboard.home_panels import champion_lines, job_lines, run_state_lines, stability_lines
from tests.core.test_jobs import run_rq_burst
from tests.core.test_stability import development_evaluation, log_known_scores
from tests.dashboard.charts import metrics
from tests.dashboard.test_home import copy_of
from tests.jobs_support import load_clients, rq_runner
from tests.trained import register

CALIBRATION = {"verdict": "calibrated", "warning": None}


def markdown(app) -> str:
    return "\n".join(m.value for m in app.markdown)


def test_home_shows_the_portfolio_the_champion_and_stability(dashboard, loaded_sqlite, tmp_path):
    url = copy_of(loaded_sqlite, tmp_path)
    engine = make_engine(url)
    evaluation = development_evaluation() | {"holdout": {"AUC": 0.781}, "calibration": CALIBRATION}
    register(engine, "1.0", "lr", evaluation=evaluation)
    register(engine, "1.1", "dt")
    set_champion(engine, "1.0")
    log_known_scores(engine, np.r_[np.full(300, 0.05), np.full(700, 0.95)])
    app = dashboard(DATABASE_URL=url)
    assert not app.exception
    figures = portfolio_figures(engine)
    shown = metrics(app)
    assert shown["Clients"] == f"{figures.clients:,}" == "24,000"
    assert shown["Default rate"] == f"{figures.default_rate:.1%}"
    assert shown["Average credit limit"] == f"NT$ {figures.average_limit:,.0f}"
    assert shown["Late in Sep 2005"] == f"{figures.late_last_month:.1%}"
    text = markdown(app)
    assert "**Champion: version 1.0**, Logistic Regression" in text
    assert "AUC 0.781 (holdout)" in text
    assert "Calibration: :green[:material/check_circle:] calibrated" in text
    assert "Policy threshold: **0.50**, the default: no policy threshold" in text
    index = score_stability(engine, "1.0")
    assert f"**:red[:material/warning:] act**: score PSI {index.value:.3f}" in text
    assert "No training job yet." in text
    links = {link.proto.label for link in app.get("page_link")}
    assert {"Explore the clients", "Train or follow a job"} <= links
    assert "Score clients, watch the Monitoring tab" in links
    engine.dispose()


def test_home_before_any_model(dashboard, loaded_sqlite):
    app = dashboard(DATABASE_URL=loaded_sqlite)
    assert not app.exception
    assert any("No model has been trained yet." in i.value for i in app.info)
    assert "Nothing scored yet: no model." in markdown(app)


def card(**changes):
    values = dict(
        version="2.0", model_name="Light Gradient Boosting Machine", champion=False,
        created_at=datetime(2026, 1, 1, tzinfo=UTC), auc=None, auc_source="cross-validated",
        calibration=None, calibration_warning=None, threshold=0.5, threshold_note="the default",
    )  # fmt: skip
    return ChampionCard(**values | changes)


def test_champion_lines_say_what_is_missing():
    lines = champion_lines(card())
    assert lines[0] == "**Newest version (no champion chosen): version 2.0**, " + (
        "Light Gradient Boosting Machine"
    )
    assert lines[1] == "AUC n/a (cross-validated)"
    assert lines[2] == "Calibration: not computed for this version"
    assert champion_lines(card(calibration="miscalibrated", threshold=0.37))[2:] == [
        "Calibration: :orange[:material/warning:] miscalibrated",
        "Policy threshold: **0.37**, the default",
    ]


def job(**changes) -> Job:
    moment = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    values = dict(
        id="j", state="succeeded", stage=None, version="1.2", folds=3, models=["lr"],
        metric="AUC", sample_size=None, fix_imbalance=False, seed=1, rows=100, models_done=1,
        models_total=1, current_model=None, error=None, note=None, cancel_requested=False,
        heartbeat_at=None, worker=None, runner="rq", submitted_at=moment, started_at=moment,
        finished_at=moment, best_model_id="lr", best_model_name="Logistic Regression",
        best_score=0.7712,
    )  # fmt: skip
    return Job(**values | changes)


def test_job_lines_by_state():
    assert job_lines(job()) == [
        "**:green[:material/check_circle:] succeeded**: version 1.2",
        "ended 2 Mar 2026, 09:30 UTC",
        "best: Logistic Regression (AUC 0.771)",
    ]
    running = job_lines(job(state="running", stage="comparing models", models_done=1,
                            models_total=3, finished_at=None))  # fmt: skip
    assert running[1] == "comparing models, 1 of 3 models, since 2 Mar 2026, 09:30 UTC"
    assert job_lines(job(state="failed", error="out of memory"))[-1] == "why: out of memory"


def test_stability_lines():
    assert "stored no holdout scores" in stability_lines(None, "1.0")[0]
    few = Index("probability", None, 40, "too few to judge")
    assert stability_lines(few, "1.0") == [
        "**too few to judge**: 40 recent scores of version 1.0; 100 or more are needed."
    ]
    judged = stability_lines(Index("probability", 0.123, 900, "watch"), "1.0")
    assert judged[0] == "**:orange[:material/visibility:] watch**: score PSI 0.123"


SCORE_LINK = "Score the whole portfolio (Score page, its last tab)"


def links(app) -> set[str]:
    return {link.proto.label for link in app.get("page_link")}


def test_home_shows_the_latest_portfolio_run_its_progress_and_its_failure(
    dashboard, tmp_path, real_redis, redis_url
):
    url = f"sqlite:///{tmp_path / 'credit.db'}"
    engine = make_engine(url)
    load_clients(engine, rows=800)
    explore.refresh_summaries(engine)
    register(engine, "1.0", "lr")
    register(engine, "1.1", "dt")
    set_champion(engine, "1.0")
    app = dashboard(DATABASE_URL=url, REDIS_URL=redis_url)
    assert not app.exception
    assert "No portfolio run yet" in markdown(app) and SCORE_LINK in links(app)

    runner = rq_runner(engine, real_redis)
    first = portfolio.submit(engine, runner, lgd=0.6)
    run_rq_burst(runner)
    set_champion(engine, "1.1", reason="a new champion for this test")
    second = portfolio.submit(engine, runner, threshold=0.3)
    run_rq_burst(runner)
    app.run()
    assert not app.exception
    run = portfolio_runs(engine).latest
    assert run.id == second and run.state == "finished", run.error
    changes = run.summary["changes"]
    assert changes["previous_run"] == first
    shown = metrics(app)
    assert shown["Clients scored"] == "800"
    assert shown["Expected loss"] == money(run.summary["expected_loss"])
    assert shown["Expected loss"].startswith("NT$ ") and "," in shown["Expected loss"]
    assert shown["Clients declined"] == f"{run.summary['decisions']['decline']:,}"
    text = markdown(app)
    assert f"**Run {second}: version 1.1 (champion)**, all clients" in text
    assert "at threshold 0.30" in text
    assert f"Against run {first} (version 1.0, champion then)" in text
    assert f"**{changes['now_declined']:,} would now be declined**" in text

    seen = []

    def look_while_running(written: int) -> None:
        if not seen:
            seen.append(dashboard(DATABASE_URL=url, REDIS_URL=redis_url))

    third = portfolio.submit(engine, runner)
    assert score_part(engine, third, 0, chunk=300, on_chunk=look_while_running) == "finished"
    running = seen[0]
    assert not running.exception
    text = markdown(running)
    assert f"**:blue[:material/autorenew:] running**: run {third}, version 1.1" in text
    assert "300 of 800 clients scored (38%)" in text
    assert [bar.value for bar in running.get("progress")] == [37]  # percent, 300 of 800
    assert any("The latest finished run:" in c.value for c in running.caption)
    assert metrics(running)["Clients scored"] == "800"  # the second run's figures meanwhile
    assert f"**Run {second}: version 1.1 (champion)**" in text

    fourth = portfolio.submit(engine, runner)
    mark_failed(engine, fourth, "the worker was stopped for this test")
    app.run()
    text = markdown(app)
    assert f"**:red[:material/error:] failed**: run {fourth}, version 1.1" in text
    assert "why: the worker was stopped for this test" in text
    assert f"**Run {third}: version 1.1 (champion)**" in text  # the latest finished
    assert portfolio_runs(engine).finished.id == third
    engine.dispose()


def test_run_state_lines_by_state():
    moment = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    values = dict(
        id=7, state="queued", version="1.2", champion=True, threshold=0.5, lgd=0.45,
        exposure="limit", filters={}, parts=[[1, 800]], parts_done=0,
        clients_total=24_000, clients_done=0, runner="rq", submitted_by="ann",
        worker=None, heartbeat_at=None, submitted_at=moment, started_at=None,
        finished_at=None, error=None, summary=None,
    )  # fmt: skip
    queued = portfolio.Run(**values)
    assert run_state_lines(queued) == [
        "**:gray[:material/hourglass_empty:] queued**: run 7, version 1.2",
        "24,000 clients, submitted 2 Mar 2026, 09:30 UTC",
    ]
    running = portfolio.Run(**values | {"state": "running", "clients_done": 6_000,
                                        "started_at": moment})  # fmt: skip
    assert run_state_lines(running)[1] == (
        "6,000 of 24,000 clients scored (25%), since 2 Mar 2026, 09:30 UTC"
    )
    failed = portfolio.Run(**values | {"state": "failed", "finished_at": moment,
                                       "error": "out of memory"})  # fmt: skip
    assert run_state_lines(failed)[1:] == ["ended 2 Mar 2026, 09:30 UTC", "why: out of memory"]
