"""Signed model artifacts on SQLite and Postgres: the key, signing on save, refusing what is
unsigned or signed under another key before any unpickling, and the migration that signs the
versions saved before signatures."""

import hashlib
import json
import os
import pickle
import secrets
import stat
import threading
from datetime import UTC, datetime

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import select

from core.db.engine import make_engine, migrate
from core.db.schema import ModelVersion
from core.ml import signing
from core.ml.registry import (
    ArtifactError,
    SignatureError,
    check_artifact,
    list_versions,
    load_pipeline,
    save_version,
    set_champion,
)
from core.ml.signing import is_signed, key_from_file, sign, signing_key
from core.serving.predictions import recent_scores
from core.serving.scoring import score
from core.settings import SettingsError, get_settings
from core.vocabulary import FEATURES
from tests.cli_support import run_cli
from tests.conftest import fresh_postgres, postgres_url
from tests.migrations_support import database_at
from tests.tampering import evil_artifact, tamper

CLIENT = {name: 0 for name in FEATURES} | {
    "LIMIT_BAL": 20000, "SEX": 2, "EDUCATION": 2, "MARRIAGE": 1, "AGE": 24, "BILL_AMT1": 3913,
}  # fmt: skip
REFUSED = "is not signed with this deployment's MODEL_SIGNING_KEY: refused, not loaded"


def fitted_model() -> LogisticRegression:
    x = np.random.default_rng(0).normal(size=(60, 3))
    return LogisticRegression().fit(x, x[:, 0] > 0)


def store(engine, version: str = "1.0") -> None:
    with engine.begin() as connection:
        save_version(
            connection,
            version=version,
            pipeline=fitted_model(),
            model_id="lr",
            model_name="Logistic Regression",
            metric="AUC",
            params={},
            metrics={"AUC": 0.8},
            folds=3,
            rows=60,
            evaluation={},
        )


def stored(engine, version: str):
    with engine.connect() as connection:
        return connection.execute(
            select(ModelVersion.artifact, ModelVersion.sha256, ModelVersion.signature).where(
                ModelVersion.version == version
            )
        ).one()


# --- the key ---


@pytest.fixture
def key_file(settings_env, tmp_path):
    """No MODEL_SIGNING_KEY: the key lives in a file under tmp_path (returned, not yet made)."""
    path = tmp_path / "data" / "model-signing.key"
    settings_env(MODEL_SIGNING_KEY=None, MODEL_SIGNING_KEY_FILE=str(path))
    return path


def test_without_a_key_one_is_made_once_with_mode_0600_and_reused(key_file):
    old_umask = os.umask(0)  # the mode comes from os.open, not from a lenient umask
    try:
        key = signing_key()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key) == 64 and key_file.read_text().strip() == key.decode()
    assert signing_key() == key
    get_settings.cache_clear()
    assert signing_key() == key


def test_processes_starting_at_once_agree_on_one_key(key_file):
    barrier = threading.Barrier(12)
    keys = []

    def start() -> None:
        barrier.wait()
        keys.append(key_from_file(key_file))

    threads = [threading.Thread(target=start) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 12 and len(set(keys)) == 1
    assert set(keys) == {key_file.read_text().strip().encode()}


def test_a_key_from_the_environment_is_used_and_writes_no_file(key_file, settings_env):
    key = secrets.token_hex(20)
    settings_env(MODEL_SIGNING_KEY=key)
    assert signing_key() == key.encode() and not key_file.exists()


def test_a_short_key_is_refused_by_name_without_showing_it(settings_env):
    settings_env(MODEL_SIGNING_KEY="hunter2-hunter2")
    with pytest.raises(SettingsError, match="MODEL_SIGNING_KEY is too short") as refused:
        get_settings()
    assert "hunter2" not in str(refused.value) and "at least 32" in str(refused.value)


def test_a_short_key_file_is_refused_naming_the_setting(key_file, monkeypatch):
    monkeypatch.setattr(signing, "KEY_FILE_WAIT_SECONDS", 0.1)
    key_file.parent.mkdir()
    key_file.write_text("too-short\n")
    with pytest.raises(SettingsError, match="is too short.*set MODEL_SIGNING_KEY"):
        signing_key()


def test_a_key_file_that_cannot_be_made_says_so(settings_env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings_env(MODEL_SIGNING_KEY=None, MODEL_SIGNING_KEY_FILE=str(blocker / "key"))
    with pytest.raises(SettingsError, match=r"key file .*a-file/key cannot be used"):
        signing_key()


def test_a_signature_binds_key_version_and_bytes():
    key, other = secrets.token_bytes(32), secrets.token_bytes(32)
    signature = sign("1.0", b"model", key)
    assert is_signed("1.0", b"model", signature, key)
    assert not is_signed("1.0", b"model", signature, other)
    assert not is_signed("1.1", b"model", signature, key)
    assert not is_signed("1.0", b"model!", signature, key)
    assert not is_signed("1.0", b"model", None, key)
    assert not is_signed("1.0", b"model", "é" * 64, key)


# --- the registry ---


def test_a_saved_version_is_signed_and_round_trips(engine):
    store(engine, "1.0")
    artifact, digest, signature = stored(engine, "1.0")
    assert signature == sign("1.0", artifact, signing_key())
    check_artifact(engine, "1.0")
    loaded = load_pipeline(engine, "1.0")
    x = np.ones((2, 3))
    assert np.array_equal(loaded.predict_proba(x), fitted_model().predict_proba(x))


def test_the_malicious_pickle_runs_code_when_unpickled(tmp_path):
    """The control: the artifact the next tests store really would run code."""
    marker = tmp_path / "ran"
    pickle.loads(evil_artifact(marker))
    assert marker.exists()


@pytest.mark.parametrize(
    "signature, message",
    [
        ("kept", REFUSED),  # the genuine model's signature, over other bytes
        (None, "model version 1.0 is not signed: saved before models were signed"),
        ("other key", REFUSED),
    ],
)
def test_a_tampered_artifact_with_a_matching_sha256_is_refused_and_never_unpickled(
    engine, tmp_path, signature, message
):
    store(engine, "1.0")
    marker = tmp_path / "ran"
    evil = evil_artifact(marker)
    if signature == "kept":
        tamper(engine, "1.0", evil)
    elif signature == "other key":
        tamper(engine, "1.0", evil, sign("1.0", evil, secrets.token_hex(32).encode()))
    else:
        tamper(engine, "1.0", evil, signature)
    for attempt in (
        lambda: load_pipeline(engine, "1.0"),
        lambda: check_artifact(engine, "1.0"),
        lambda: set_champion(engine, "1.0"),
        lambda: score(engine, CLIENT, version="1.0", source="form"),
        lambda: score(engine, CLIENT, source="api"),  # the default version
    ):
        with pytest.raises(SignatureError, match=message):
            attempt()
    assert not marker.exists()
    assert recent_scores(engine).empty
    assert not any(version.is_champion for version in list_versions(engine))


def test_a_genuine_model_copied_under_another_version_is_refused(engine):
    store(engine, "1.0")
    store(engine, "2.0")
    artifact, _, signature = stored(engine, "1.0")
    tamper(engine, "2.0", artifact, signature)
    with pytest.raises(SignatureError, match=f"model version 2.0 {REFUSED}"):
        load_pipeline(engine, "2.0")


def test_a_version_saved_under_another_key_is_refused_even_once_loaded(engine, settings_env):
    store(engine, "1.0")
    load_pipeline(engine, "1.0")  # loaded and cached under the key it was saved with
    settings_env(MODEL_SIGNING_KEY=secrets.token_hex(32))
    with pytest.raises(SignatureError, match=REFUSED):
        load_pipeline(engine, "1.0")
    with pytest.raises(SignatureError, match=REFUSED):
        check_artifact(engine, "1.0")


def test_a_damaged_artifact_is_still_called_damaged(engine):
    store(engine, "1.0")
    with engine.begin() as connection:
        connection.execute(ModelVersion.__table__.update().values(artifact=b"\x80damaged"))
    with pytest.raises(ArtifactError, match="model version 1.0 is damaged") as refused:
        load_pipeline(engine, "1.0")
    assert not isinstance(refused.value, SignatureError)


# --- the CLI ---


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_cli_refuses_a_tampered_model_in_one_line_and_runs_nothing(backend, tmp_path):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'cli.db'}"
    else:
        url = postgres_url()
        fresh_postgres(url).dispose()
    engine = make_engine(url)
    migrate(engine)
    store(engine, "1.0")
    marker = tmp_path / "ran"
    tamper(engine, "1.0", evil_artifact(marker))
    done = run_cli("score", "--json", json.dumps(CLIENT), DATABASE_URL=url)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip() == f"error: model version 1.0 {REFUSED}; set the key it was " + (
        "saved under, or retrain it"
    )
    assert not marker.exists() and recent_scores(engine).empty
    engine.dispose()


# --- the migration ---


def database_at_0009(backend: str, tmp_path):
    return database_at(backend, tmp_path, "0009")


def old_row(version: str, artifact: bytes, sha256: str) -> dict:
    return dict(
        version=version,
        model_id="lr",
        model_name="Logistic Regression",
        metric="AUC",
        params={},
        metrics={},
        folds=3,
        rows=60,
        library_versions={},
        evaluation={},
        artifact=artifact,
        sha256=sha256,
        is_champion=False,
        created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


@pytest.mark.parametrize("key_source", ["environment", "key file"])
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_migration_signs_old_versions_whose_sha256_matches(
    backend, key_source, tmp_path, settings_env
):
    if key_source == "key file":
        key_path = tmp_path / "model-signing.key"
        settings_env(MODEL_SIGNING_KEY=None, MODEL_SIGNING_KEY_FILE=str(key_path))
    engine = database_at_0009(backend, tmp_path)
    good = pickle.dumps({"model": "old but intact"})
    marker = tmp_path / "ran"
    bad = evil_artifact(marker)
    table = ModelVersion.__table__  # its inserts name only the columns given: 0009's
    with engine.begin() as connection:
        rows = [
            old_row("1.0", good, hashlib.sha256(good).hexdigest()),
            old_row("1.1", bad, hashlib.sha256(b"what was saved").hexdigest()),
        ]
        for row in rows:
            connection.execute(table.insert().values(**row))
    migrate(engine)
    key = signing_key()
    if key_source == "key file":
        assert key == key_path.read_text().strip().encode()
    assert stored(engine, "1.0").signature == sign("1.0", good, key)
    assert stored(engine, "1.1").signature is None
    assert load_pipeline(engine, "1.0") == {"model": "old but intact"}
    with pytest.raises(ArtifactError, match="model version 1.1 is damaged"):
        load_pipeline(engine, "1.1")
    assert not marker.exists()
    engine.dispose()


def test_migrating_a_registry_with_no_versions_reads_no_key(key_file, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    migrate(engine)
    assert not key_file.exists()
    engine.dispose()
