"""Challenger against champion (issue 13): the paired-bootstrap intervals on synthetic
predictions with a known difference, the swap set, the comparison of two registered
versions on their holdouts, and the champion history with who and why (SQLite and
Postgres); promotion without a reason when not better is refused."""

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from core.auth import Actor
from core.auth.audit import recent
from core.ml.challenger import (
    BETTER,
    NO_DIFFERENCE,
    SAME,
    WORSE,
    ComparisonError,
    bootstrap_aucs,
    compare,
    compare_predictions,
    fairness_side_by_side,
    swap_set,
)
from core.ml.evaluation import holdout_clients
from core.ml.registry import (
    ChampionError,
    champion_history,
    get_version,
    save_version,
    set_champion,
)
from core.vocabulary import ID


def synthetic(rows: int, auc: float, seed: int, y=None):
    """Labels (22% defaulters) and probabilities whose true AUC is `auc`: a defaulter's
    score is shifted by d = sqrt(2) * Phi^-1(auc) standard normals."""
    rng = np.random.default_rng(seed)
    if y is None:
        y = (rng.uniform(size=rows) < 0.22).astype(int)
    shift = np.sqrt(2) * norm.ppf(auc)
    score = y * shift + rng.normal(size=rows)
    return y, 1 / (1 + np.exp(-(score - 1.5)))


def test_each_bootstrap_auc_is_scikit_learns_on_the_same_resample():
    y, p = synthetic(1_000, 0.75, seed=1)
    p = np.round(p, 2)  # many ties
    _, q = synthetic(1_000, 0.70, seed=2, y=y)
    draws = bootstrap_aucs(y, [p, q], resamples=3, seed=11)
    drawn = np.random.default_rng(11).integers(0, 1_000, size=(3, 1_000))  # the same draws
    for i, rows in enumerate(drawn):
        assert draws[0, i] == pytest.approx(roc_auc_score(y[rows], p[rows]))
        assert draws[1, i] == pytest.approx(roc_auc_score(y[rows], q[rows]))


def test_a_better_model_is_significantly_better():
    y, strong = synthetic(5_000, 0.80, seed=2)
    _, weak = synthetic(5_000, 0.70, seed=3, y=y)
    result = compare_predictions(y, strong, weak)
    auc = result["auc"]
    assert auc["challenger"]["value"] == pytest.approx(roc_auc_score(y, strong))
    assert auc["champion"]["value"] == pytest.approx(roc_auc_score(y, weak))
    assert auc["difference"]["low"] > 0 and result["verdict"] == BETTER
    assert auc["challenger"]["low"] < 0.80 < auc["challenger"]["high"]
    assert auc["champion"]["low"] < 0.70 < auc["champion"]["high"]
    # and the other way round, significantly worse
    assert compare_predictions(y, weak, strong)["verdict"] == WORSE


def test_two_identical_models_are_not_significantly_different():
    y, p = synthetic(5_000, 0.78, seed=4)
    result = compare_predictions(y, p, p.copy())
    difference = result["auc"]["difference"]
    assert difference["low"] <= 0 <= difference["high"]
    assert result["verdict"] == NO_DIFFERENCE
    assert result["swaps"]["to_default"] == result["swaps"]["to_not_default"] == 0


def test_two_equally_good_models_are_not_significantly_different():
    y, first = synthetic(5_000, 0.75, seed=5)
    _, second = synthetic(5_000, 0.75, seed=6, y=y)
    assert compare_predictions(y, first, second)["verdict"] == NO_DIFFERENCE


def test_the_difference_interval_covers_the_true_difference_about_95_times_in_100():
    covered = 0
    trials = 60
    for trial in range(trials):
        y, strong = synthetic(1_000, 0.78, seed=100 + trial)
        _, weak = synthetic(1_000, 0.73, seed=500 + trial, y=y)
        draws = bootstrap_aucs(y, [strong, weak], resamples=300, seed=trial)
        low, high = np.percentile(draws[0] - draws[1], [2.5, 97.5])
        covered += low <= 0.05 <= high
    # 95% nominal: under 51 of 60 would happen by chance less than once in a thousand
    assert covered >= 51


def test_the_same_seed_gives_the_same_intervals():
    y, p = synthetic(2_000, 0.75, seed=7)
    _, q = synthetic(2_000, 0.72, seed=8, y=y)
    assert compare_predictions(y, p, q)["auc"] == compare_predictions(y, p, q)["auc"]


def test_the_comparison_has_brier_ks_and_both_calibration_curves():
    from sklearn.metrics import brier_score_loss, roc_curve

    y, p = synthetic(3_000, 0.8, seed=9)
    _, q = synthetic(3_000, 0.7, seed=10, y=y)
    result = compare_predictions(y, p, q)
    assert result["brier"]["challenger"] == pytest.approx(brier_score_loss(y, p))
    fpr, tpr, _ = roc_curve(y, q)
    assert result["ks"]["champion"] == pytest.approx(np.max(tpr - fpr))
    assert len(result["calibration"]["challenger"]["curve"]) == 10
    assert result["calibration"]["champion"]["rows"] == 3_000


def test_the_swap_set_counts_each_direction_at_each_versions_threshold():
    challenger = np.array([0.9, 0.6, 0.2, 0.1, 0.45])
    champion = np.array([0.1, 0.4, 0.8, 0.2, 0.45])
    swaps = swap_set(challenger, champion, (0.5, 0.5), ids=[11, 12, 13, 14, 15], y=[1, 0, 0, 0, 1])
    assert swaps["to_default"] == 2 and swaps["to_not_default"] == 1 and swaps["unchanged"] == 2
    assert swaps["defaulted"] == {"to_default": 1, "to_not_default": 0}
    assert [row[ID] for row in swaps["top"]] == [11, 13, 12]  # largest change first
    # the champion's own threshold: at 0.4 client 12 was already flagged by it
    assert swap_set(challenger, champion, (0.5, 0.4))["to_default"] == 1
    assert swap_set(challenger, champion, (0.5, 0.5), top=1)["top"][0]["change"] == "to default"


def test_one_class_only_cannot_be_compared():
    with pytest.raises(ComparisonError, match="one class"):
        compare_predictions([0, 0, 0], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])


def test_fairness_ratios_side_by_side():
    def report(ratio):
        group = {"group": "male", "ratio": ratio, "flagged": ratio < 0.8}
        return {"attributes": {"SEX": {"name": "sex", "groups": [group]}}}

    rows = fairness_side_by_side(report(0.75), report(0.9))
    assert rows == [
        {
            "attribute": "sex",
            "group": "male",
            "challenger": 0.75,
            "challenger_flagged": True,
            "champion": 0.9,
            "champion_flagged": False,
        }
    ]
    assert fairness_side_by_side(None, report(0.9))[0]["challenger"] is None


# --- Registered versions and the champion history (SQLite and Postgres) -----------------

ADMIN = Actor("boss", "admin")
ROWS = 2_000


def store(engine, version: str, auc: float, seed: int, ids=None) -> None:
    """A version whose stored holdout probabilities have AUC `auc` on shared labels."""
    y, probability = synthetic(ROWS, auc, seed, y=synthetic(ROWS, 0.5, seed=0)[0])
    ids = np.arange(1, ROWS + 1) if ids is None else ids
    x = np.random.default_rng(seed).normal(size=(60, 3))
    clients = {ID: ids, "SEX": np.ones(ROWS, dtype=int)}
    import pandas as pd

    evaluation = {
        "probabilities": [round(float(p), 5) for p in probability],
        "holdout_clients": holdout_clients(pd.DataFrame(clients), y),
        "threshold": 0.5,
    }
    with engine.begin() as connection:
        save_version(
            connection,
            version=version,
            pipeline=LogisticRegression().fit(x, x[:, 0] > 0),
            model_id="lr",
            model_name="Logistic Regression",
            metric="AUC",
            params={},
            metrics={"AUC": auc},
            folds=3,
            rows=ROWS,
            evaluation=evaluation,
        )


def test_two_versions_compared_on_their_stored_holdout(engine):
    store(engine, "1.0", 0.70, seed=1)
    store(engine, "1.1", 0.82, seed=2)
    comparison = compare(engine, "1.1", "1.0", recent=False)
    assert comparison.basis == SAME and comparison.significantly_better
    assert comparison.holdout["rows"] == ROWS
    assert comparison.holdout["swaps"]["top"][0][ID] in range(1, ROWS + 1)
    assert compare(engine, "1.0", "1.1", recent=False).verdict == WORSE
    with pytest.raises(ComparisonError, match="itself"):
        compare(engine, "1.0", "1.0")


def test_holdouts_of_other_clients_are_compared_on_the_clients_they_share(engine):
    store(engine, "1.0", 0.70, seed=1)
    store(engine, "1.1", 0.82, seed=2, ids=np.arange(1, ROWS + 1) + 600)
    comparison = compare(engine, "1.1", "1.0", recent=False)
    assert comparison.basis.startswith(f"the {ROWS - 600:,} clients both")
    assert comparison.holdout["rows"] == ROWS - 600


def test_the_champion_history_records_every_change_with_user_and_reason(engine):
    store(engine, "1.0", 0.70, seed=1)
    store(engine, "1.1", 0.82, seed=2)
    store(engine, "1.2", 0.70, seed=3)
    set_champion(engine, "1.0", actor=ADMIN)  # the first champion needs no reason
    set_champion(engine, "1.1", actor=Actor("carla", "admin"))  # significantly better
    set_champion(engine, "1.2", reason="  simpler model, same AUC  ", actor=ADMIN)
    set_champion(engine, "1.2", reason="again", actor=ADMIN)  # already champion: no change
    history = champion_history(engine)
    assert [(c.version, c.previous, c.reason, c.actor) for c in history] == [
        ("1.2", "1.1", "simpler model, same AUC", "boss"),
        ("1.1", "1.0", "", "carla"),
        ("1.0", None, "", "boss"),
    ]
    assert all(c.at.tzinfo is not None for c in history)
    assert [e.detail for e in recent(engine) if e.action == "champion_changed"][0] == (
        "version 1.2 is champion: simpler model, same AUC"
    )


def test_promotion_without_a_reason_when_not_better_is_refused(engine):
    store(engine, "1.0", 0.80, seed=1)
    store(engine, "1.1", 0.80, seed=2)
    set_champion(engine, "1.0")
    for given in ({}, {"reason": "   "}, {"better": False}):
        with pytest.raises(ChampionError, match="not significantly better.*give a reason"):
            set_champion(engine, "1.1", actor=ADMIN, **given)
    assert get_version(engine, "1.0").is_champion and len(champion_history(engine)) == 1
    set_champion(engine, "1.1", better=True, actor=ADMIN)  # the caller's comparison said so
    assert get_version(engine, "1.1").is_champion


@pytest.mark.parametrize(
    "reason, message", [("x" * 2_001, "reason: at most 2,000"), ("a\x00b", "reason: control")]
)
def test_a_reason_that_cannot_be_stored_is_refused_naming_the_field(engine, reason, message):
    store(engine, "1.0", 0.80, seed=1)
    with pytest.raises(ChampionError, match=message):
        set_champion(engine, "1.0", reason=reason)
