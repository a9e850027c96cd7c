"""Calibration and fairness through real training jobs (an RQ worker on a real Redis), on
SQLite and Postgres: what a version stores, a failed calibration that leaves a note and a
finished job, a version without the protected attributes scored through core.serving,
and versions saved before calibration was stored."""

import numpy as np
import pandas as pd
import pytest
from rq import SimpleWorker
from sqlalchemy import select, update

from core import jobs
from core.data.loader import load_frame
from core.db.schema import ModelVersion
from core.jobs.rq import training_queue, training_worker
from core.ml.registry import get_version
from core.ml.trust import (
    AT_TRAINING,
    FROM_HOLDOUT,
    NOT_COMPUTED,
    REBUILT,
    trust_from_holdout,
    version_trust,
)
from core.serving.scoring import explain, get_model, score
from core.vocabulary import FEATURES, PROTECTED, TARGET
from tests.jobs_support import FAST, load_clients, real_frame, rq_runner, url_of
from tests.trained import register

pytestmark = pytest.mark.integration


def train(engine, real_redis, settings_env, **params) -> jobs.Job:
    """Submit a job and run it with a real RQ worker in this process until it ends."""
    settings_env(DATABASE_URL=url_of(engine))
    runner = rq_runner(engine, real_redis)
    job_id = jobs.submit(engine, {**FAST, **params}, runner)
    queue = training_queue(runner.queue, runner.connection)
    training_worker([queue], runner.connection, SimpleWorker).work(burst=True)
    return jobs.get_job(engine, job_id)


def test_a_version_without_protected_attributes_scores_and_explains_23_features(
    engine, real_redis, settings_env
):
    load_clients(engine)
    job = train(
        engine, real_redis, settings_env, version="1.0", models=["lr", "dt"],
        leave_out_protected=True, calibrate="sigmoid",
    )  # fmt: skip
    assert job.state == "finished", job.error
    assert job.leave_out_protected and job.calibrate == "sigmoid" and job.note is None
    info = get_version(engine, "1.0")
    assert info.evaluation["left_out"] == list(PROTECTED)
    assert info.evaluation["calibration"]["method"] == "sigmoid"
    assert set(info.evaluation["fairness"]["attributes"]) == {"SEX", "AGE", "EDUCATION", "MARRIAGE"}

    client = real_frame().iloc[2_000][FEATURES].to_dict()
    scored = score(engine, client, version="1.0")
    assert get_model(engine, "1.0").serving.compiled
    other = score(engine, {**client, "SEX": 3 - client["SEX"], "AGE": 66}, version="1.0")
    assert other.probability == scored.probability and 0 < scored.probability < 1
    effects = explain(engine, client, version="1.0").effects.set_index("feature")["effect"]
    assert set(effects.index) == set(FEATURES)
    assert (effects[list(PROTECTED)] == 0).all()


def test_a_failed_calibration_is_a_note_and_the_job_still_saves_its_model(
    engine, real_redis, settings_env
):
    """Two defaulters among 300 clients: one in the holdout, one in training, so the
    held-out fold that holds it leaves the model a training fold with one class."""
    frame = real_frame()
    few = pd.concat([frame[frame[TARGET] == 0].iloc[:298], frame[frame[TARGET] == 1].iloc[:2]])
    load_frame(engine, few.sort_values("ID"), "few.csv")
    job = train(
        engine, real_redis, settings_env, version="1.0", models=["lr"], calibrate="isotonic"
    )
    assert job.state == "finished", job.error
    assert "calibration (isotonic) was not applied" in job.note
    assert "one class" in job.note
    calibration = get_version(engine, "1.0").evaluation["calibration"]
    assert calibration["method"] is None and calibration["note"] == job.note
    fairness = get_version(engine, "1.0").evaluation["fairness"]
    sex = fairness["attributes"]["SEX"]["groups"]
    assert all(g["note"] == "too few to judge" for g in sex if g["defaulters"] == 0)


def test_trust_is_stored_with_a_version_and_computed_again_from_its_holdout(
    engine, real_redis, settings_env
):
    load_clients(engine)
    job = train(engine, real_redis, settings_env, version="2.0", fix_imbalance=True)
    assert job.state == "finished", job.error
    assert job.calibrate == "isotonic"
    stored = version_trust(engine, "2.0")
    assert stored.status == AT_TRAINING and stored.calibration["method"] == "isotonic"
    again = trust_from_holdout(engine, "2.0")
    assert again.status == FROM_HOLDOUT
    assert again.calibration["ece"] == pytest.approx(stored.calibration["ece"], abs=1e-4)
    assert again.calibration["brier"] == pytest.approx(stored.calibration["brier"], abs=1e-5)
    assert _same_groups(again.fairness, stored.fairness)
    assert again.as_dict()["fairness"] == again.fairness


def _same_groups(one: dict, other: dict) -> bool:
    """The same groups with the same counts and flags (rates may differ in the 5th decimal
    from the rounded stored probabilities)."""
    pick = ("group", "clients", "defaulters", "judged", "flagged")
    return all(
        [{k: g[k] for k in pick} for g in one["attributes"][a]["groups"]]
        == [{k: g[k] for k in pick} for g in other["attributes"][a]["groups"]]
        for a in one["attributes"]
    )


def test_a_version_saved_before_says_what_cannot_be_computed(engine):
    probabilities = list(np.linspace(0.1, 0.5, 9))
    register(engine, "0.9", evaluation={"probabilities": probabilities})
    assert version_trust(engine, "0.9").status == NOT_COMPUTED
    trust = trust_from_holdout(engine, "0.9")
    assert trust.status == NOT_COMPUTED and trust.fairness is None
    assert trust.calibration == {"mean_predicted": pytest.approx(0.3), "rows": 9}
    assert "Brier score, ECE, observed default rate and fairness" in trust.reason
    assert "it was not trained by a job" in trust.reason


NEW_KEYS = ("calibration", "fairness", "holdout_clients", "trust_seconds")


def as_saved_before(engine, version: str) -> None:
    """Take out of a version's evaluation what versions saved before issue 13 lacked."""
    where = ModelVersion.version == version
    with engine.begin() as connection:
        evaluation = connection.scalar(select(ModelVersion.evaluation).where(where))
        older = {key: value for key, value in evaluation.items() if key not in NEW_KEYS}
        connection.execute(update(ModelVersion).where(where).values(evaluation=older))


def test_an_older_versions_holdout_is_rebuilt_and_checked_against_what_it_stored(
    engine, real_redis, settings_env
):
    load_clients(engine)
    job = train(engine, real_redis, settings_env, version="3.0", fix_imbalance=True)
    assert job.state == "finished", job.error
    stored = version_trust(engine, "3.0")
    as_saved_before(engine, "3.0")
    assert version_trust(engine, "3.0").status == NOT_COMPUTED

    rebuilt = trust_from_holdout(engine, "3.0")
    assert rebuilt.status == REBUILT, rebuilt.reason
    assert rebuilt.calibration["ece"] == pytest.approx(stored.calibration["ece"], abs=1e-4)
    assert rebuilt.calibration["observed_rate"] == stored.calibration["observed_rate"]
    assert _same_groups(rebuilt.fairness, stored.fairness)

    load_frame(engine, real_frame().iloc[1_500:1_700], "more.csv")  # the data changes
    changed = trust_from_holdout(engine, "3.0")
    assert changed.status == NOT_COMPUTED and changed.fairness is None
    assert "the data changed: it was trained on 1,500 clients, not 1,700" in changed.reason
    assert changed.calibration["rows"] == 450
