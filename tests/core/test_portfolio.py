"""Portfolio runs through real runners (an RQ worker on a real Redis, two RQ worker
processes, the local worker process) on SQLite and on Postgres, checked against
core.serving.scoring and against figures computed here from the stored scores."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from sqlalchemy import func, select

from core import jobs, portfolio
from core.auth import AccessDenied, Actor
from core.auth.audit import recent
from core.data.features import _read
from core.db.engine import make_engine
from core.db.schema import Client, PortfolioScore
from core.explore.filters import Filters
from core.jobs.rq import PORTFOLIO_TASK
from core.ml.registry import set_champion
from core.serving.decisions import Costs
from core.serving.policy import save_policy
from core.serving.reasons import reasons_of
from core.serving.scoring import explain, score_frame
from core.vocabulary import FEATURES, ID
from tests.core.test_jobs import rq_payload, run_rq_burst, start_rq_worker, wait_for_workers
from tests.jobs_support import LOCAL, load_clients, poll, rq_runner, url_of
from tests.trained import register

pytestmark = pytest.mark.integration

VIEWER = Actor("vera", "viewer")
ANALYST = Actor("ann", "analyst")


@pytest.fixture
def loaded(engine, settings_env):
    """1,500 real clients, version 1.0 (logistic regression) as champion, workers reading
    this database in chunks of 400 clients."""
    load_clients(engine)
    register(engine, "1.0", "lr")
    set_champion(engine, "1.0")
    settings_env(DATABASE_URL=url_of(engine), PORTFOLIO_CHUNK_CLIENTS="400")
    return engine


def all_ids(engine, where=None) -> list[int]:
    query = select(Client.id).order_by(Client.id)
    with engine.connect() as connection:
        return list(connection.scalars(query if where is None else query.where(where)))


def wait_finished(engine, run_id: int, timeout: float = 120) -> portfolio.Run:
    return poll(
        lambda: (run := portfolio.get_run(engine, run_id)).state in ("finished", "failed") and run,
        timeout,
        f"portfolio run {run_id} ended",
    )


def expected_summary(engine, scores, lgd=portfolio.DEFAULT_LGD) -> dict:
    """The summary's figures computed here, from the scores and the clients' limits."""
    limits = _read(engine, scores["client_id"].tolist()).set_index(ID)["LIMIT_BAL"]
    counts, _ = np.histogram(scores["probability"], bins=np.linspace(0, 1, 21))
    return {
        "clients": len(scores),
        "decline": int((scores["probability"] >= 0.5).sum()),
        "expected_loss": float(
            (scores["probability"] * lgd * limits.loc[scores["client_id"]].to_numpy()).sum()
        ),
        "histogram": counts.tolist(),
    }


def check_summary(run: portfolio.Run, expected: dict) -> None:
    summary = run.summary
    assert summary["clients"] == expected["clients"]
    assert summary["decisions"] == {
        "approve": expected["clients"] - expected["decline"],
        "decline": expected["decline"],
    }
    assert summary["expected_loss"] == pytest.approx(expected["expected_loss"], rel=1e-9)
    assert summary["histogram"]["counts"] == expected["histogram"]


def test_a_run_scores_every_client_once_with_the_probabilities_of_core_scoring(loaded, real_redis):
    runner = rq_runner(loaded, real_redis)
    run_id = portfolio.submit(loaded, runner, actor=ANALYST)
    assert rq_payload(real_redis, f"portfolio-{run_id}-0") == [
        PORTFOLIO_TASK,
        None,
        [run_id, 0],
        {},
    ]
    assert portfolio.finished_run(loaded) is None  # queued: nothing to read yet
    run_rq_burst(runner)
    run = portfolio.get_run(loaded, run_id)
    assert run.state == "finished", run.error
    assert run.clients_done == run.clients_total == 1_500 and run.parts_done == 1
    assert run.version == "1.0" and run.champion and run.progress == 1.0

    scores = portfolio.run_scores(loaded, run_id)
    assert scores["client_id"].tolist() == all_ids(loaded)  # every client, once
    alone = score_frame(loaded, _read(loaded, all_ids(loaded)), "1.0")
    np.testing.assert_allclose(scores["probability"], alone["probability"], rtol=0, atol=1e-12)
    assert scores["label"].tolist() == alone["label"].tolist()
    check_summary(run, expected_summary(loaded, scores))
    assert run.summary["changes"] is None  # no earlier champion run to compare with
    assert portfolio.finished_run(loaded).id == run_id
    check_reasons(loaded, scores, alone, run.summary["reasons"])
    assert any(e.action == "portfolio_scored" and e.actor == "ann" for e in recent(loaded))


def check_reasons(engine, scores, alone, counted) -> None:
    """Declined clients carry the codes of the reasons the Score form gives each alone;
    approved ones none; the summary counts them."""
    declined = scores[scores["label"] == 1]
    assert len(declined) > 0 and (scores.loc[scores["label"] == 0, "reasons"] == "").all()
    first = {}
    for row in declined.itertuples():
        client = alone.loc[alone[ID] == row.client_id, FEATURES].iloc[0].to_dict()
        found = reasons_of(explain(engine, client, "1.0"))
        assert row.reasons == ",".join(r.code for r in found.reasons), row.client_id
        first[found.reasons[0].code] = first.get(found.reasons[0].code, 0) + 1
        assert len(found.reasons) <= 4
    assert counted["first"] == first


def test_filters_restrict_the_run_to_matching_clients(loaded, real_redis):
    runner = rq_runner(loaded, real_redis)
    filters = Filters(sex=(2,), age=(25, 40))
    run_id = portfolio.submit(loaded, runner, filters=filters, threshold=0.3, lgd=0.6)
    run_rq_burst(runner)
    run = portfolio.get_run(loaded, run_id)
    assert run.state == "finished", run.error
    matching = all_ids(loaded, filters.where(Client.__table__))
    assert 0 < len(matching) < 1_500 and run.clients_total == len(matching)
    scores = portfolio.run_scores(loaded, run_id)
    assert scores["client_id"].tolist() == matching
    assert run.filters_text == "female; age 25-40"
    assert (scores["label"] == (scores["probability"] >= 0.3)).all()
    expected = expected_summary(loaded, scores, lgd=0.6)
    assert run.summary["expected_loss"] == pytest.approx(expected["expected_loss"], rel=1e-9)


def test_without_threshold_and_costs_a_run_takes_the_versions_policy(loaded, real_redis):
    save_policy(loaded, "1.0", 0.3, Costs(lgd=0.6, exposure="bill", margin=0.05))
    runner = rq_runner(loaded, real_redis)
    run_id = portfolio.submit(loaded, runner)
    run_rq_burst(runner)
    run = portfolio.get_run(loaded, run_id)
    assert run.state == "finished", run.error
    assert (run.threshold, run.lgd, run.exposure) == (0.3, 0.6, "bill")
    scores = portfolio.run_scores(loaded, run_id)
    assert (scores["label"] == (scores["probability"] >= 0.3)).all()
    bills = _read(loaded, scores["client_id"].tolist()).set_index(ID)["BILL_AMT1"].clip(lower=0)
    expected = (scores["probability"] * 0.6 * bills.loc[scores["client_id"]].to_numpy()).sum()
    assert run.summary["expected_loss"] == pytest.approx(float(expected), rel=1e-9)

    given = portfolio.submit(loaded, runner, threshold=0.7, lgd=0.2, exposure="limit")
    run = portfolio.get_run(loaded, given)
    assert (run.threshold, run.lgd, run.exposure) == (0.7, 0.2, "limit")


def test_the_local_worker_process_runs_it_too(loaded):
    try:
        run_id = portfolio.submit(loaded, LOCAL)
        run = wait_finished(loaded, run_id)
    finally:
        jobs.stop_local_worker(loaded)
    assert run.state == "finished" and run.runner == "local", run.error
    assert portfolio.run_scores(loaded, run_id)["client_id"].tolist() == all_ids(loaded)


def test_changes_are_counted_against_the_previous_champions_run(loaded, real_redis):
    runner = rq_runner(loaded, real_redis)
    first = portfolio.submit(loaded, runner)  # 1.0, the champion
    register(loaded, "1.1", "dt")
    set_champion(loaded, "1.1", reason="a new champion for this test")
    run_rq_burst(runner)
    second = portfolio.submit(loaded, runner)  # 1.1, the new champion
    run_rq_burst(runner)
    run = portfolio.get_run(loaded, second)
    assert run.state == "finished" and run.version == "1.1", run.error

    before = portfolio.run_scores(loaded, first).set_index("client_id")["label"]
    after = portfolio.run_scores(loaded, second).set_index("client_id")["label"]
    declined = sorted(before.index[(before == 0) & (after == 1)])
    approved = sorted(before.index[(before == 1) & (after == 0)])
    changes = run.summary["changes"]
    assert changes["previous_run"] == first and changes["previous_version"] == "1.0"
    assert changes["compared"] == 1_500
    assert (changes["now_declined"], changes["now_approved"]) == (len(declined), len(approved))
    assert len(declined) + len(approved) > 0  # the two models disagree somewhere
    listed = changes["listed"]
    assert {c["client_id"] for c in listed["now_declined"]} <= set(declined)
    assert len(listed["now_declined"]) == min(100, len(declined))
    assert all(c["after"] >= 0.5 > c["before"] for c in listed["now_declined"])


def test_two_rq_workers_split_the_clients_and_the_summary_is_right(tmp_path, redis_url, real_redis):
    engine = make_engine(f"sqlite:///{tmp_path / 'credit.db'}")
    load_clients(engine)
    register(engine, "1.0", "lr")
    workers = [start_rq_worker(engine, redis_url) for _ in range(2)]
    try:
        runner = rq_runner(engine, real_redis)
        wait_for_workers(runner, 2)
        run_id = portfolio.submit(engine, runner)
        run = wait_finished(engine, run_id)
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
    assert run.state == "finished", run.error
    assert len(run.parts) == 2 and run.parts_done == 2
    assert run.parts[0][1] + 1 == run.parts[1][0]  # adjacent id ranges
    scores = portfolio.run_scores(engine, run_id)
    assert scores["client_id"].tolist() == all_ids(engine)
    check_summary(run, expected_summary(engine, scores))
    engine.dispose()


KILL_AFTER_FIRST_CHUNK = """
import os, signal, sys
from core.db.engine import make_engine
from core.portfolio.work import score_part
engine = make_engine(sys.argv[1])
score_part(engine, int(sys.argv[2]), 0, chunk=400,
           on_chunk=lambda n: os.kill(os.getpid(), signal.SIGKILL))
"""


def scores_stored(engine, run_id: int) -> int:
    with engine.connect() as connection:
        return connection.scalar(
            select(func.count()).select_from(PortfolioScore).where(PortfolioScore.run_id == run_id)
        )


def test_a_run_killed_midway_is_never_visible_and_the_reaper_deletes_its_rows(loaded, real_redis):
    # Queued on RQ with no worker listening: the process below scores its only part.
    run_id = portfolio.submit(loaded, rq_runner(loaded, real_redis))
    process = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_FIRST_CHUNK, url_of(loaded), str(run_id)], check=False
    )
    assert process.returncode == -signal.SIGKILL
    run = portfolio.get_run(loaded, run_id)
    assert run.state == "running" and run.clients_done == 400 and run.summary is None
    assert scores_stored(loaded, run_id) == 400  # written, but not results:
    assert portfolio.finished_run(loaded) is None
    with pytest.raises(portfolio.PortfolioError, match="has not finished"):
        portfolio.run_scores(loaded, run_id)

    assert portfolio.reap_stale(loaded, stale_after=60) == []  # it beat a moment ago
    time.sleep(0.05)
    assert portfolio.reap_stale(loaded, stale_after=0) == [run_id]
    run = portfolio.get_run(loaded, run_id)
    assert run.state == "failed" and "stopped sending heartbeats" in run.error
    assert scores_stored(loaded, run_id) == 0
    # Its task, taken by a worker later, finds the run ended and writes nothing.
    run_rq_burst(rq_runner(loaded, real_redis))
    assert portfolio.get_run(loaded, run_id).state == "failed"
    assert scores_stored(loaded, run_id) == 0


def test_viewers_may_not_start_a_run_and_bad_inputs_are_named(loaded, real_redis):
    runner = rq_runner(loaded, real_redis)
    with pytest.raises(AccessDenied, match="viewer"):
        portfolio.submit(loaded, runner, actor=VIEWER)
    with pytest.raises(portfolio.PortfolioError, match=r"loss given default \(lgd\) 1.5"):
        portfolio.submit(loaded, runner, lgd=1.5)
    with pytest.raises(portfolio.PortfolioError, match="threshold -0.1"):
        portfolio.submit(loaded, runner, threshold=-0.1)
    with pytest.raises(portfolio.PortfolioError, match="exposure 'salary' is not one of limit"):
        portfolio.submit(loaded, runner, exposure="salary")
    with pytest.raises(portfolio.PortfolioError, match="no model version 9.0"):
        portfolio.submit(loaded, runner, version="9.0")
    with pytest.raises(portfolio.PortfolioError, match="no client matches"):
        portfolio.submit(loaded, runner, filters=Filters(age=(21, 21), limit_bal=(10, 10)))
    assert portfolio.list_runs(loaded) == []
    with pytest.raises(portfolio.PortfolioError, match="no portfolio run 7"):
        portfolio.get_run(loaded, 7)
