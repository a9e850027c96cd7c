"""Prediction log retention on SQLite and Postgres: old rows go, newer stay, counted; the
hourly purge after a write and in the workers' reaper; the CLI; the setting; monitoring
after a purge."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sqlalchemy import func, select

from core.db.bulk import write_rows
from core.db.schema import Prediction
from core.jobs.workers import Reaper
from core.ml.registry import save_version
from core.serving.monitoring import KEY_FEATURES, monitoring
from core.serving.predictions import log_scores
from core.serving.retention import purge_predictions, purge_when_due
from core.settings import SettingsError, get_settings
from core.vocabulary import FEATURES, TARGET
from tests.cli_support import run_cli
from tests.jobs_support import poll, real_frame, url_of

DAY = timedelta(days=1)
# Ages of logged rows in days: with the default 90 days, the first three go.
AGES = [400, 120, 90.01, 89.9, 30, 1, 0]


def log_rows(engine, ages_in_days, version: str = "1.0") -> None:
    """Write one prediction row per age, made that many days ago (real clients' inputs)."""
    now = datetime.now(UTC)
    clients = real_frame()[FEATURES].iloc[: len(ages_in_days)].astype(np.int64)
    rows = pd.DataFrame(
        {
            "created_at": [now - age * DAY for age in ages_in_days],
            "version": version,
            "inputs": [json.dumps(client) for client in clients.to_dict("records")],
            "probability": np.linspace(0.1, 0.9, len(ages_in_days)),
            "label": 0,
            "threshold": 0.5,
            "source": "api",
        }
    )
    with engine.begin() as connection:
        write_rows(connection, "predictions", rows)


def ages_left(engine) -> list[int]:
    """The logged rows' ages in whole days, oldest first."""
    now = datetime.now(UTC)
    with engine.connect() as connection:
        stamps = connection.scalars(select(Prediction.created_at).order_by(Prediction.id)).all()
    return [(now - (s if s.tzinfo else s.replace(tzinfo=UTC))).days for s in stamps]


def count(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Prediction))


def test_rows_older_than_the_retention_go_and_newer_stay(engine):
    log_rows(engine, AGES)
    assert purge_predictions(engine, 90) == 3
    assert ages_left(engine) == [89, 30, 1, 0]
    assert purge_predictions(engine, 90) == 0
    assert purge_predictions(engine, 7) == 2
    assert ages_left(engine) == [1, 0]


@pytest.mark.parametrize("old", [0, 1, 4, 5])
def test_a_purge_in_batches_deletes_every_old_row_and_counts_them(engine, old):
    log_rows(engine, [200] * old + [2, 1])
    assert purge_predictions(engine, 30, batch=2) == old
    assert ages_left(engine) == [2, 1]


@pytest.mark.parametrize("days", [0, -1, 2.5, True])
def test_a_retention_below_one_day_is_refused_and_nothing_goes(engine, days):
    log_rows(engine, [200])
    with pytest.raises(ValueError, match="PREDICTION_RETENTION_DAYS must be a whole number"):
        purge_predictions(engine, days)
    assert count(engine) == 1


def test_writing_the_log_purges_when_due_once_an_hour(engine, settings_env):
    settings_env(PREDICTION_RETENTION_DAYS="30")
    log_rows(engine, [100, 40, 20])
    features = real_frame()[FEATURES].iloc[:2]
    log_scores(
        engine,
        version="1.0",
        features=features,
        probabilities=np.array([0.2, 0.7]),
        threshold=0.5,
        source="form",
    )
    assert ages_left(engine) == [20, 0, 0]  # this engine's first write purged
    log_rows(engine, [50])
    assert purge_when_due(engine) is None  # not due again within the hour
    assert count(engine) == 4
    assert purge_when_due(engine, every=0) == 1
    assert ages_left(engine) == [20, 0, 0]


def test_a_workers_reaper_purges_the_log(engine, settings_env):
    settings_env(PREDICTION_RETENTION_DAYS="10")
    log_rows(engine, [11, 12, 9])
    reaper = Reaper(url_of(engine), every=0.1)
    reaper.start()
    try:
        poll(lambda: count(engine) == 1, 30, "the reaper purging the prediction log")
    finally:
        reaper.stop()
    assert ages_left(engine) == [9]


def run_purge(*args: str, **env: str) -> subprocess.CompletedProcess:
    return run_cli("purge", *args, **env)


def test_the_purge_command_prints_how_many_rows_went(engine):
    log_rows(engine, AGES)
    url = url_of(engine)
    done = run_purge(DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "dropped 3 logged predictions older than 90 days\n"
    done = run_purge(DATABASE_URL=url, PREDICTION_RETENTION_DAYS="20")
    assert done.stdout == "dropped 2 logged predictions older than 20 days\n"
    done = run_purge("--days", "1", DATABASE_URL=url)
    assert done.stdout == "dropped 1 logged prediction older than 1 day\n"
    assert ages_left(engine) == [0]

    refused = run_purge(DATABASE_URL=url, PREDICTION_RETENTION_DAYS="0")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: PREDICTION_RETENTION_DAYS: Input should be greater")
    refused = run_purge("--days", "0", DATABASE_URL=url)
    assert (refused.returncode, refused.stderr) == (1, "error: --days must be at least 1, not 0\n")
    assert count(engine) == 1


@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "PREDICTION_RETENTION_DAYS: Input should be greater than or equal to 1"),
        ("-7", "PREDICTION_RETENTION_DAYS: Input should be greater than or equal to 1"),
        ("a week", "PREDICTION_RETENTION_DAYS: Input should be a valid integer"),
    ],
)
def test_the_setting_is_validated_by_name(settings_env, value, message):
    settings_env(PREDICTION_RETENTION_DAYS=value)
    with pytest.raises(SettingsError, match=message):
        get_settings()


def test_the_setting_defaults_to_90_days(settings_env):
    settings_env(PREDICTION_RETENTION_DAYS=None)
    assert get_settings().prediction_retention_days == 90
    settings_env(PREDICTION_RETENTION_DAYS="365")
    assert get_settings().prediction_retention_days == 365


def save_model(engine, version: str = "1.0") -> None:
    """A version whose evaluation holds its own reference, so monitoring reads no clients."""
    frame = real_frame().iloc[:200]
    sample = {name: [int(v) for v in frame[name]] for name in FEATURES}
    model = DummyClassifier(strategy="prior").fit(frame[FEATURES], frame[TARGET])
    with engine.begin() as connection:
        save_version(
            connection, version=version, pipeline=model, model_id="dummy",
            model_name="Dummy Classifier", metric="AUC", params={}, metrics={"AUC": 0.5},
            folds=2, rows=200, evaluation={"probabilities": [0.2, 0.3], "train_sample": sample},
        )  # fmt: skip


def test_monitoring_reads_what_is_left_after_a_purge(engine):
    save_model(engine)
    log_rows(engine, AGES)
    assert len(monitoring(engine, "1.0").recent) == len(AGES)

    purge_predictions(engine, 90)
    watched = monitoring(engine, "1.0")
    assert len(watched.recent) == 4
    assert watched.drift["recent"].tolist() == [4] * (1 + len(KEY_FEATURES))

    purge_predictions(engine, 1, now=datetime.now(UTC) + 3 * DAY)
    watched = monitoring(engine, "1.0")
    assert watched.recent.empty
    assert watched.drift["recent"].tolist() == [0] * (1 + len(KEY_FEATURES))
    assert watched.drift["ks_distance"].isna().all()
