"""Cut-off by expected loss (issue 14): the profit curve and its optimum against a brute-force
pandas computation, cost inputs out of range refused by name, the holdout read from a stored
version, and the policy threshold saved (audited, role-checked) and used by scoring."""

import numpy as np
import pandas as pd
import pytest

from core.auth import Actor
from core.auth.access import AccessDenied
from core.auth.audit import recent
from core.data.loader import load_frame
from core.ml.evaluation import holdout_clients
from core.serving.decisions import (
    THRESHOLDS,
    CostError,
    Costs,
    NoHoldoutError,
    best_threshold,
    decide,
    decision_holdout,
    profit_curve,
)
from core.serving.files import score_csv_file
from core.serving.policy import get_policy, save_policy, threshold_for
from core.serving.scoring import score
from core.vocabulary import FEATURES, ID, TARGET
from tests.trained import real_frame, register


def small_holdout(rows: int = 300, seed: int = 4) -> pd.DataFrame:
    random = np.random.default_rng(seed)
    probability = np.round(random.beta(2, 5, rows), 5)
    return pd.DataFrame(
        {
            "probability": probability,
            TARGET: (random.uniform(size=rows) < probability).astype(int),
            "LIMIT_BAL": random.integers(1, 50, rows) * 10_000.0,
            "BILL_AMT1": random.integers(-5_000, 100_000, rows).astype(float),
        }
    )


def brute_force(holdout: pd.DataFrame, lgd: float, basis: str, margin: float) -> pd.DataFrame:
    """Every threshold computed on its own, row by row with pandas."""
    ead = holdout["LIMIT_BAL"] if basis == "limit" else holdout["BILL_AMT1"].clip(lower=0)
    frame = holdout.assign(ead=ead)
    rows = []
    for threshold in THRESHOLDS:
        approved = frame[frame["probability"] < threshold]
        bad = approved[approved[TARGET] == 1]
        good = approved[approved[TARGET] == 0]
        loss = (bad["ead"] * lgd).sum()
        earned = (good["ead"] * margin).sum()
        rows.append(
            {
                "threshold": threshold,
                "approved": len(approved),
                "defaults_let_through": len(bad),
                "defaults_declined": int((frame[TARGET] == 1).sum()) - len(bad),
                "expected_loss": (approved["probability"] * lgd * approved["ead"]).sum(),
                "realised_loss": loss,
                "margin": earned,
                "profit": earned - loss,
            }
        )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "lgd, basis, margin", [(0.45, "limit", 0.05), (0.8, "bill", 0.12), (0.2, "limit", 0.0)]
)
def test_the_curve_and_its_optimum_equal_a_brute_force_computation(lgd, basis, margin):
    holdout = small_holdout()
    curve = profit_curve(holdout, Costs(lgd=lgd, exposure=basis, margin=margin))
    expected = brute_force(holdout, lgd, basis, margin)
    for column in expected.columns:
        assert np.allclose(curve[column], expected[column]), column
    best = best_threshold(curve)
    top = expected.loc[expected["profit"].idxmax()]
    assert best.threshold == pytest.approx(top["threshold"])
    assert best.profit == pytest.approx(top["profit"])
    assert best.approved + best.declined == len(holdout)
    assert best.defaults_let_through == top["defaults_let_through"]


def test_no_margin_means_declining_everyone_is_best():
    curve = profit_curve(small_holdout(), Costs(margin=0.0))
    assert best_threshold(curve).approved == 0


@pytest.mark.parametrize(
    "arguments, field",
    [
        ({"lgd": 0}, "lgd"),
        ({"lgd": -0.1}, "lgd"),
        ({"lgd": 1.5}, "lgd"),
        ({"lgd": float("nan")}, "lgd"),
        ({"lgd": "0.4"}, "lgd"),
        ({"margin": -0.01}, "margin"),
        ({"margin": 2}, "margin"),
        ({"margin": float("inf")}, "margin"),
        ({"exposure": "income"}, "exposure"),
    ],
)
def test_costs_out_of_range_are_refused_naming_the_field(arguments, field):
    with pytest.raises(CostError, match=f"^{field}: "):
        Costs(**arguments)


def test_the_limits_are_accepted():
    Costs(lgd=1, margin=0)
    Costs(lgd=0.01, margin=1, exposure="bill")


HOLDOUT_ROWS = 200


@pytest.fixture
def version_with_holdout(engine):
    """Version 1.0 whose stored holdout is 200 loaded clients, with made-up probabilities."""
    clients = real_frame().iloc[:400].reset_index(drop=True)
    load_frame(engine, clients, "test")
    holdout = clients.iloc[100 : 100 + HOLDOUT_ROWS].reset_index(drop=True)
    probability = np.round(np.random.default_rng(1).uniform(size=HOLDOUT_ROWS), 5)
    evaluation = {
        "probabilities": probability.tolist(),
        "holdout_clients": holdout_clients(holdout, holdout[TARGET].to_numpy()),
    }
    register(engine, "1.0", evaluation=evaluation)
    return holdout.assign(probability=probability)


def test_the_holdout_of_a_version_has_its_clients_amounts(engine, version_with_holdout):
    read = decision_holdout(engine, "1.0")
    expected = version_with_holdout
    assert read[ID].tolist() == expected[ID].tolist()
    assert read[TARGET].tolist() == expected[TARGET].tolist()
    assert np.allclose(read["probability"], expected["probability"])
    assert np.allclose(read["LIMIT_BAL"], expected["LIMIT_BAL"])
    assert np.allclose(read["BILL_AMT1"], expected["BILL_AMT1"])
    curve, best = decide(engine, "1.0", Costs())
    assert len(curve) == len(THRESHOLDS) and best.clients == HOLDOUT_ROWS


def test_a_version_without_a_holdout_says_what_cannot_be_computed(engine):
    register(engine, "1.0", evaluation={"note": "old"})
    with pytest.raises(NoHoldoutError, match="stored no holdout probabilities.*cannot be"):
        decision_holdout(engine, "1.0")


def test_clients_no_longer_loaded_are_named(engine, version_with_holdout):
    clients = real_frame().iloc[1000:1100].reset_index(drop=True)
    load_frame(engine, clients, "other", replace=True)
    with pytest.raises(NoHoldoutError, match="200 of version 1.0's 200 holdout clients"):
        decision_holdout(engine, "1.0")


@pytest.mark.parametrize("role", ["viewer", "analyst"])
def test_only_an_admin_may_set_the_policy_threshold(engine, role):
    register(engine, "1.0")
    with pytest.raises(AccessDenied, match="needs the admin role"):
        save_policy(engine, "1.0", 0.3, Costs(), actor=Actor("someone", role))
    assert get_policy(engine, "1.0") is None


def test_the_policy_threshold_is_saved_audited_and_used_by_default(engine, tmp_path):
    register(engine, "1.0")
    client = {name: int(real_frame().at[3, name]) for name in FEATURES}
    assert threshold_for(engine, "1.0").described == "0.5 default"
    assert score(engine, client, version="1.0").threshold == 0.5

    save_policy(engine, "1.0", 0.23, Costs(lgd=0.6, margin=0.04), actor=Actor("ada", "admin"))
    policy = get_policy(engine, "1.0")
    assert policy.threshold == 0.23 and policy.costs == Costs(lgd=0.6, margin=0.04)
    assert policy.set_by == "ada"
    entry = recent(engine, 1)[0]
    assert entry.actor == "ada" and entry.action == "policy_set" and "0.23" in entry.detail

    result = score(engine, client, version="1.0")
    assert result.threshold == 0.23
    assert result.threshold_source == "policy threshold of version 1.0"
    assert result.label == int(result.probability >= 0.23)
    given = score(engine, client, version="1.0", threshold=0.7)
    assert (given.threshold, given.threshold_source) == (0.7, "given")

    frame = score(engine, real_frame().iloc[:20], version="1.0")
    assert frame.attrs["threshold"] == 0.23
    assert (frame["label"] == (frame["probability"] >= 0.23)).all()

    source = tmp_path / "clients.csv"
    real_frame().iloc[:20].to_csv(source, index=False)
    scores = score_csv_file(engine, source, tmp_path / "out.csv", log_source=None)
    assert scores.threshold == 0.23
    assert scores.threshold_source == "policy threshold of version 1.0"

    save_policy(engine, "1.0", 0.31, Costs(), actor=Actor("ada", "admin"))  # replaces
    assert get_policy(engine, "1.0").threshold == 0.31
    assert score(engine, client, version="1.0").threshold == 0.31
