"""Score stability (core.serving.stability): PSI and CSI against hand computations on known
distributions, bins fixed on the development deciles, windows too small to judge, the PSI
per day, and the whole computation over the prediction log on SQLite and Postgres."""

from __future__ import annotations

from math import isclose, log

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update

from core.db.schema import Prediction
from core.ml.registry import VersionError
from core.serving import stability as s
from core.serving.predictions import log_scores
from core.vocabulary import FEATURES
from tests.trained import real_frame, register

# 1,000 development scores spread evenly: each decile bin holds exactly 100 of them.
DEVELOPMENT = (np.arange(1000) + 0.5) / 1000
EPS = 1e-4


def term(development: float, recent: float) -> float:
    """One bin's term of the PSI formula, written out by hand."""
    development, recent = max(development, EPS), max(recent, EPS)
    return (recent - development) * log(recent / development)


def test_identical_distributions_are_zero():
    index = s.numeric_index("probability", DEVELOPMENT, DEVELOPMENT.copy())
    assert index.value == 0.0 and index.verdict == s.STABLE
    assert [b.development for b in index.bins] == [0.1] * 10


def test_a_known_shift_gives_the_formula_s_value():
    # 300 recent scores in the lowest decile, 700 in the highest, none in between
    recent = np.r_[np.full(300, 0.05), np.full(700, 0.95)]
    expected = term(0.1, 0.3) + 8 * term(0.1, 0.0) + term(0.1, 0.7)
    index = s.numeric_index("probability", DEVELOPMENT, recent)
    assert isclose(index.value, expected, rel_tol=1e-12)
    assert isclose(expected, 0.2 * log(3) + 8 * (EPS - 0.1) * log(EPS / 0.1) + 0.6 * log(7))
    assert index.verdict == s.ACT
    assert [b.recent for b in index.bins] == [0.3] + [0.0] * 8 + [0.7]


def test_a_small_shift_is_watch():
    # one decile's worth moved from the top bin to the bottom one
    recent = np.r_[np.full(200, 0.05), (np.arange(100, 900) + 0.5) / 1000]
    index = s.numeric_index("probability", DEVELOPMENT, recent)
    assert isclose(index.value, term(0.1, 0.2) + term(0.1, 0.0))
    assert index.verdict == s.ACT  # an empty bin weighs heavily
    # half a decile each from the two top bins to the bottom one
    top = np.r_[(np.arange(800, 850) + 0.5) / 1000, (np.arange(900, 950) + 0.5) / 1000]
    gentle = np.r_[np.full(200, 0.05), (np.arange(100, 800) + 0.5) / 1000, top]
    gentle_index = s.numeric_index("probability", DEVELOPMENT, gentle)
    assert isclose(gentle_index.value, term(0.1, 0.2) + 2 * term(0.1, 0.05))
    assert gentle_index.verdict == s.WATCH


def test_bins_are_fixed_on_the_development_deciles():
    edges = s.decile_edges(DEVELOPMENT)
    assert np.allclose(edges, np.arange(1, 10) / 10, atol=1e-3)
    shifted = DEVELOPMENT * 0.5  # every recent score in the lower half of development
    index = s.numeric_index("probability", DEVELOPMENT, shifted)
    assert len(index.bins) == 10 and index.bins[0].label.startswith("< 0.10")
    assert [round(b.recent, 2) for b in index.bins] == [0.2] * 5 + [0.0] * 5
    # the cut points are the development's, whatever the recent scores are
    assert [b.label for b in s.numeric_index("p", DEVELOPMENT, DEVELOPMENT).bins] == [
        b.label for b in index.bins
    ]


def test_repeated_values_share_a_cut_point_once():
    development = np.r_[np.zeros(500), np.arange(500)]
    edges = s.decile_edges(development)
    assert len(edges) == len(set(edges)) < 9
    shares = s.binned_shares(development, edges)
    assert isclose(shares.sum(), 1.0) and isclose(shares[0], 0.0)


@pytest.mark.parametrize(
    ("value", "scores", "expected"),
    [
        (0.0, 100, s.STABLE),
        (0.0999, 5_000, s.STABLE),
        (0.10, 5_000, s.WATCH),
        (0.25, 5_000, s.WATCH),
        (0.2501, 5_000, s.ACT),
        (3.0, 99, s.TOO_FEW),
        (None, 5_000, s.TOO_FEW),
    ],
)
def test_verdict_bands(value, scores, expected):
    assert s.verdict(value, scores) == expected


def test_windows_under_100_scores_are_too_few_to_judge():
    few = s.numeric_index("probability", DEVELOPMENT, DEVELOPMENT[:99])
    assert few.value is None and few.verdict == s.TOO_FEW and few.scores == 99
    enough = s.numeric_index("probability", DEVELOPMENT, DEVELOPMENT[::10])
    assert enough.scores == 100 and enough.value == 0.0


def test_categories_are_binned_by_category_and_unseen_ones_get_epsilon():
    development = [1] * 60 + [2] * 40
    recent = [1] * 50 + [2] * 30 + [3] * 20  # 3 never seen in development
    index = s.feature_index("MARRIAGE", development, recent)
    assert [b.label for b in index.bins] == ["1", "2", "3"]
    assert [b.development for b in index.bins] == [0.6, 0.4, 0.0]
    assert isclose(index.value, term(0.6, 0.5) + term(0.4, 0.3) + term(0.0, 0.2))


def test_repayment_status_is_categorical_and_limit_numeric():
    assert "PAY_1" in s.CATEGORICAL and "SEX" in s.CATEGORICAL
    limits = np.arange(10, 1010, 10)
    assert len(s.feature_index("LIMIT_BAL", limits, limits).bins) == 10


def test_psi_per_day_of_the_log():
    days = ["2026-03-02 08:00", "2026-03-02 20:00", "2026-03-03 12:00", "2026-03-05 00:30"]
    recent = pd.DataFrame(
        {
            "created_at": np.repeat(pd.to_datetime(days, utc=True), [100, 50, 60, 200]),
            "probability": np.r_[
                DEVELOPMENT[::10],  # day 1 morning: the development exactly
                np.full(50, 0.95),  # day 1 evening: all in the top bin
                np.full(60, 0.5),  # day 2: too few
                np.full(200, 0.05),  # day 4: all in the lowest bin
            ],
        }
    )
    series = s.over_time(DEVELOPMENT, recent, "day")
    assert [(p.start, p.scores, p.verdict) for p in series] == [
        ("2026-03-02", 150, s.ACT),
        ("2026-03-03", 60, s.TOO_FEW),
        ("2026-03-05", 200, s.ACT),
    ]
    first = [10 / 150] * 9 + [60 / 150]
    assert isclose(series[0].value, sum(term(0.1, r) for r in first))
    assert series[1].value is None
    assert isclose(series[2].value, term(0.1, 1.0) + 9 * term(0.1, 0.0))
    weekly = s.over_time(DEVELOPMENT, recent, "week")
    assert [(p.start, p.scores) for p in weekly] == [("2026-03-02", 410)]
    with pytest.raises(ValueError, match="period 'month' is not one of day, week"):
        s.over_time(DEVELOPMENT, recent, "month")


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (0, "window must be from 1 to 50,000 scores, not 0"),
        (50_001, "not 50,001"),
        ("10", "window must be a whole number of scores, not '10'"),
        (True, "not True"),
    ],
)
def test_bad_windows_are_named(window, message):
    with pytest.raises(ValueError, match=message):
        s.check_window(window)


def development_evaluation() -> dict:
    sample = real_frame().iloc[:300]
    return {
        "probabilities": [round(float(p), 5) for p in DEVELOPMENT],
        "train_sample": {name: sample[name].tolist() for name in FEATURES},
    }


def log_known_scores(engine, probabilities: np.ndarray, rows=slice(300, None)) -> None:
    clients = real_frame().iloc[rows].iloc[: len(probabilities)].reset_index(drop=True)
    log_scores(
        engine,
        version="1.0",
        features=clients[FEATURES],
        probabilities=probabilities,
        threshold=0.5,
        source="api",
    )


def test_stability_of_the_logged_window(engine):
    register(engine, "1.0", "lr", evaluation=development_evaluation())
    recent = np.r_[np.full(300, 0.05), np.full(700, 0.95)]
    log_known_scores(engine, recent)
    result = s.stability(engine, "1.0", window=1_000)
    expected = term(0.1, 0.3) + 8 * term(0.1, 0.0) + term(0.1, 0.7)
    assert result.scores == 1_000 and result.development_scores == 1_000
    assert isclose(result.score.value, expected, rel_tol=1e-9)
    assert result.score.verdict == s.ACT and result.notes == []
    [today] = result.over_time
    assert today.scores == 1_000 and isclose(today.value, expected, rel_tol=1e-9)
    # CSI of every feature against the stored training sample, highest first
    assert {f.name for f in result.features} == set(FEATURES)
    values = [f.value for f in result.features]
    assert values == sorted(values, reverse=True)
    sex = next(f for f in result.features if f.name == "SEX")
    development = real_frame().iloc[:300]["SEX"].value_counts(normalize=True)
    recent_sex = real_frame().iloc[300:1300]["SEX"].value_counts(normalize=True)
    assert isclose(sex.value, sum(term(development[c], recent_sex[c]) for c in (1, 2)))
    as_json = result.as_dict()
    assert as_json["score"]["verdict"] == "act" and as_json["epsilon"] == EPS
    # a caller holding the evaluation (a loaded model) gets the same without a read
    assert s.stability(engine, "1", window=1_000, evaluation=development_evaluation()) == result
    # the window is the newest scores only
    assert s.stability(engine, "1.0", window=300).score.bins[0].recent == 0.0


def test_days_of_the_log_are_separate_points(engine):
    register(engine, "1.0", "lr", evaluation=development_evaluation())
    log_known_scores(engine, DEVELOPMENT[::5], rows=slice(300, 500))
    with engine.begin() as connection:
        connection.execute(
            update(Prediction)
            .where(Prediction.id <= 100)
            .values(created_at=pd.Timestamp("2026-01-05T10:00", tz="UTC").to_pydatetime())
        )
    result = s.stability(engine, "1.0", window=1_000, period="day")
    assert [(p.start, p.scores) for p in result.over_time][0] == ("2026-01-05", 100)
    assert len(result.over_time) == 2 and result.over_time[0].value is not None


def test_too_few_scores_and_a_version_without_development_data_say_so(engine):
    register(engine, "1.0", "lr", evaluation={})
    log_known_scores(engine, np.full(40, 0.3))
    result = s.stability(engine, "1.0")
    assert result.score is None and result.features == [] and result.scores == 40
    assert any("stored no holdout probabilities" in n for n in result.notes)
    assert any("stored no training sample" in n for n in result.notes)
    assert any("only 40 scores" in n and "100 or more" in n for n in result.notes)
    with pytest.raises(VersionError, match="no model version 9.0"):
        s.stability(engine, "9.0")


def test_no_scores_logged_yet(engine):
    register(engine, "1.0", "lr", evaluation=development_evaluation())
    result = s.stability(engine, "1.0")
    assert result.scores == 0 and result.over_time == []
    assert result.score.verdict == s.TOO_FEW and result.score.value is None
    assert all(f.verdict == s.TOO_FEW for f in result.features)
