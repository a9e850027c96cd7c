"""How the Train page words a job: its step, its times and the history table (issue 15)."""

from datetime import UTC, datetime, timedelta

import pytest

from core.jobs import Job
from core.jobs.store import BoardRow
from dashboard.training import duration, history_table, step, when, with_latest

SUBMITTED = datetime(2026, 12, 2, 7, 45, tzinfo=UTC)


def board_row(state: str, model_id: str = "nb", name: str = "Naive Bayes") -> BoardRow:
    return BoardRow(job_id="j", model_id=model_id, model_name=name, position=0, state=state,
                    metrics={})  # fmt: skip


def job(**changes) -> Job:
    values = dict(
        id="0123456789", state="queued", stage=None, version="1.0", folds=2, models=["nb"],
        metric="AUC", sample_size=None, fix_imbalance=False, seed=1, rows=None, models_done=0,
        models_total=1, current_model=None, error=None, note=None, cancel_requested=False,
        heartbeat_at=None, worker=None, runner="local", submitted_at=SUBMITTED,
        started_at=None, finished_at=None, best_model_id=None, best_model_name=None,
        best_score=None,
    )  # fmt: skip
    return Job(**values | changes)


@pytest.mark.parametrize(
    "seconds, words",
    [
        (None, "—"),
        (0, "0 seconds"),
        (1, "1 second"),
        (9.4, "9 seconds"),
        (60, "1 minute"),
        (125, "2 minutes 5 seconds"),
        (3600, "1 hour"),
        (3 * 3600 + 61, "3 hours 1 minute"),
    ],
)
def test_durations_in_words(seconds, words):
    assert duration(seconds) == words


def test_times_without_an_offset():
    assert when(SUBMITTED) == "2 Dec 2026, 07:45 UTC"
    assert when(None) == "—"


# The first model is claimed (its row running, current_model set) before the data is
# prepared: the step names it only once the stage is "training".
@pytest.mark.parametrize(
    "changes, shown",
    [
        ({}, "Waiting for a worker"),
        (
            dict(state="running", stage="preparing", current_model="Naive Bayes",
                 leaderboard=[board_row("running")]),
            "Preparing the data",
        ),
        (
            dict(state="running", stage="training", current_model="Naive Bayes",
                 leaderboard=[board_row("running")]),
            "Training Naive Bayes",
        ),
        (
            dict(state="running", stage="finalizing",
                 current_model="Logistic Regression (finalizing)"),
            "Finalizing Logistic Regression",
        ),
        (dict(state="finished"), "—"),
        (dict(state="failed", error="out of memory"), "—"),
    ],
)  # fmt: skip
def test_the_step_names_a_model_only_while_it_trains(changes, shown):
    assert step(job(**changes)) == shown


def test_the_history_has_words_not_none_or_offsets():
    started = SUBMITTED + timedelta(seconds=3)
    done = job(
        id="aaaaaaaa-1", state="finished", rows=3000, models_done=1, started_at=started,
        finished_at=started + timedelta(seconds=125), best_model_name="Naive Bayes",
        best_score=0.71234,
    )  # fmt: skip
    running = job(id="bbbbbbbb-2", state="running", stage="preparing", started_at=started)
    table = history_table([running, job(id="cccccccc-3"), done])
    assert list(table["State"]) == ["running: preparing the data", "queued", "finished"]
    finished = table.iloc[2]
    assert finished["Clients"] == "3,000" and finished["Took"] == "2 minutes 5 seconds"
    assert finished["Score"] == "0.7123" and finished["Best model"] == "Naive Bayes"
    assert finished["Submitted"] == "2 Dec 2026, 07:45 UTC"
    assert table.iloc[0]["Took"].endswith(" so far")
    assert table.iloc[1]["Started"] == "—" and table.iloc[1]["Why"] == "—"
    cells = table.astype(str).to_numpy().ravel()
    assert not any(cell in ("None", "nan", "NaT") or "+00:00" in cell for cell in cells)
    assert table.map(lambda cell: isinstance(cell, str)).all().all()


def test_the_history_shows_the_panels_reading_of_the_job():
    earlier = job(id="x", state="queued")
    later = job(id="x", state="running", stage="training")
    other = job(id="y", state="finished")
    assert with_latest([earlier, other], later) == [later, other]
