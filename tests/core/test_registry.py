"""The model registry on SQLite and Postgres: immutable versions, sha256 checks, champion."""

from datetime import UTC, datetime

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sqlalchemy import update

from core.db.schema import ModelVersion
from core.ml.leaderboard import leaderboard, version_history
from core.ml.registry import (
    ArtifactError,
    VersionError,
    VersionInfo,
    VersionSummary,
    champion_or_latest,
    default_version,
    format_version,
    get_version,
    list_versions,
    load_pipeline,
    next_version,
    save_version,
    set_champion,
    version_exists,
)
from tests.queries import counting_queries

EVALUATION = {
    "roc": {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]},
    "holdout_rows": 2,
    "importance_kind": "permutation",
    "probabilities": [0.2, 0.7],
}


@pytest.mark.parametrize(
    "given, stored",
    [("1", "1.0"), (1.0, "1.0"), ("2.3", "2.3"), (" 0.1 ", "0.1"), ("10.50", "10.5")],
)
def test_versions_are_stored_with_one_decimal(given, stored):
    assert format_version(given) == stored


@pytest.mark.parametrize(
    "bad", ["abc", "", "-1", "0", "1.25", "nan", "inf", "1e30", "9" * 40, "1000000"]
)
def test_malformed_versions_are_refused_with_a_message(bad):
    with pytest.raises(VersionError, match="version"):
        format_version(bad)


def fitted_model(seed: int = 0) -> LogisticRegression:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 3))
    return LogisticRegression().fit(x, x[:, 0] > 0)


def store(engine, version: str, model=None, metrics=None) -> str:
    with engine.begin() as connection:
        return save_version(
            connection,
            version=version,
            pipeline=model or fitted_model(),
            model_id="lr",
            model_name="Logistic Regression",
            metric="AUC",
            params={"C": 1.0},
            metrics=metrics or {"AUC": np.float64(0.8), "F1": float("nan")},
            folds=3,
            rows=60,
            evaluation=EVALUATION,
        )


def test_saved_version_round_trips(engine):
    model = fitted_model()
    digest = store(engine, "1.0", model)
    info = get_version(engine, "1")
    assert info.sha256 == digest and info.model_id == "lr"
    assert info.metrics == {"AUC": 0.8, "F1": None}
    assert "pycaret" in info.library_versions
    loaded = load_pipeline(engine, "1.0")
    x = np.ones((2, 3))
    assert np.array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_a_used_version_is_refused_and_the_first_is_kept(engine):
    first = store(engine, "1.0", fitted_model(1))
    with pytest.raises(VersionError, match="already used"):
        store(engine, "1.0", fitted_model(2))
    assert get_version(engine, "1.0").sha256 == first
    assert [v.version for v in list_versions(engine)] == ["1.0"]


def test_next_default_and_champion(engine):
    assert next_version(engine) == "1.0" and default_version(engine) is None
    store(engine, "1.0")
    store(engine, "1.1")
    assert next_version(engine) == "1.2"
    assert default_version(engine) == "1.1"
    set_champion(engine, "1.0")
    assert default_version(engine) == "1.0"
    set_champion(engine, "1.1", reason="a test: 1.1 replaces 1.0")
    assert [v.version for v in list_versions(engine) if v.is_champion] == ["1.1"]
    with pytest.raises(VersionError, match="no model version 9.0"):
        set_champion(engine, "9.0")
    assert version_exists(engine, "1.1") and not version_exists(engine, "3.0")


def test_a_damaged_artifact_is_refused_not_unpickled(engine):
    store(engine, "2.0")
    with engine.begin() as connection:
        connection.execute(
            update(ModelVersion).where(ModelVersion.version == "2.0").values(artifact=b"evil")
        )
    with pytest.raises(ArtifactError, match="damaged"):
        load_pipeline(engine, "2.0")


def test_unknown_version_says_so(engine):
    with pytest.raises(VersionError, match="no model version 4.0"):
        load_pipeline(engine, "4.0")


def test_the_list_leaves_evaluations_out_and_one_version_is_read_by_key(engine):
    store(engine, "1.0")
    store(engine, "1.1")
    with counting_queries() as listing:
        listed = list_versions(engine)
    assert [v.version for v in listed] == ["1.1", "1.0"]
    assert {type(v) for v in listed} == {VersionSummary} and listing.evaluation_reads == []
    with counting_queries() as fetching:
        info = get_version(engine, "1")
    assert isinstance(info, VersionInfo) and info.version == "1.0"
    # Saving adds how the version is served: a bare estimator is not a pipeline to compile.
    assert info.evaluation == {**EVALUATION, "serving": info.evaluation["serving"]}
    assert info.evaluation["serving"]["predictor"] == "pipeline"
    assert (fetching.keyed, fetching.listed, len(fetching.statements)) == (1, 0, 1)
    with pytest.raises(VersionError, match="no model version 2.0"):
        get_version(engine, "2.0")


@pytest.mark.parametrize(
    "parts",
    [
        ["roc"],
        ["holdout_rows", "importance_kind"],
        ["roc", "confusion", "holdout_rows"],  # confusion is not stored: left out
        [],
    ],
)
def test_parts_of_an_evaluation_are_picked_in_the_database(engine, parts):
    store(engine, "1.0")
    with counting_queries() as queries:
        info = get_version(engine, "1.0", parts=parts)
    assert info.evaluation == {k: v for k, v in EVALUATION.items() if k in parts}
    assert info.version == "1.0" and info.model_id == "lr"
    assert len(queries.statements) == 1 and "probabilities" not in queries.statements[0]


def summary(version: str, champion: bool = False, **changes) -> VersionSummary:
    values = dict(
        version=version,
        job_id=None,
        model_id="lr",
        model_name="Logistic Regression",
        metric="AUC",
        params={},
        metrics={"AUC": 0.8},
        folds=3,
        rows=60,
        library_versions={},
        sha256="0" * 64,
        is_champion=champion,
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )
    return VersionSummary(**(values | changes))


@pytest.mark.parametrize(
    "newest_first, expected",
    [
        ([], None),
        ([summary("1.1"), summary("1.0")], "1.1"),
        ([summary("1.1"), summary("1.0", champion=True)], "1.0"),
        ([summary("2.0", champion=True), summary("1.0")], "2.0"),
    ],
)
def test_the_default_is_the_champion_else_the_newest(newest_first, expected):
    assert champion_or_latest(newest_first) == expected


@pytest.mark.parametrize(
    "version, label, score",
    [
        (summary("1.0"), "1.0: Logistic Regression", 0.8),
        (summary("1.1", champion=True), "1.1: Logistic Regression (champion)", 0.8),
        (summary("2.0", metric="F1", model_name="Naive Bayes"), "2.0: Naive Bayes", None),
    ],
)
def test_a_version_names_itself_and_its_score(version, label, score):
    assert (version.label, version.score) == (label, score)


def test_versions_saved_outside_jobs_rank_on_the_chosen_metric(engine):
    store(engine, "1.0", metrics={"AUC": 0.7, "Accuracy": 0.9})
    store(engine, "1.1", metrics={"AUC": 0.8, "Accuracy": 0.6})
    store(engine, "1.2", metrics={"Accuracy": 0.8})
    versions = list_versions(engine)
    with counting_queries() as queries:
        by_auc = leaderboard(engine, versions)
        by_accuracy = leaderboard(engine, versions, rank_by="Accuracy")
    assert by_auc["Version"].tolist() == ["1.1", "1.0", "1.2"]  # no AUC: last
    assert by_accuracy["Version"].tolist() == ["1.0", "1.2", "1.1"]
    assert by_auc["Kept"].all() and queries.statements == []  # no job: nothing to read
    with pytest.raises(ValueError, match="cannot rank by 'TT'"):
        leaderboard(engine, versions, rank_by="TT")
    history = version_history(versions)
    assert history["Version"].tolist() == ["1.0", "1.1", "1.2"]
    assert history["Score"].tolist()[:2] == [0.7, 0.8]
