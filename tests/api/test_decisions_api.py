"""The API and issue 14: the version's policy threshold used by default and named, the
expected loss of each client, and reason codes with ?reasons=true (none protected, and no
protected contribution from a model trained without the protected attributes)."""

from __future__ import annotations

import pytest

from core.auth import Actor
from core.serving.decisions import Costs
from core.serving.policy import save_policy
from core.serving.scoring import get_model, score
from core.vocabulary import FEATURES, ID, PROTECTED
from tests.core.test_reasons import telling_client
from tests.jobs_support import real_frame
from tests.trained import register

CLIENT = {name: int(real_frame().at[0, name]) for name in FEATURES}
ADMIN = Actor("ada", "admin")


def test_realtime_says_its_threshold_and_expected_loss(api, engine):
    register(engine, "1.0", "lr")
    body = api.post("/predict/realtime/", json=CLIENT).json()
    probability = score(engine, CLIENT).probability
    assert body["threshold"] == 0.5 and body["threshold_source"] == "0.5 default"
    assert body["expected_loss"] == pytest.approx(probability * 0.45 * CLIENT["LIMIT_BAL"])
    assert body["reasons"] is None and body["protected_note"] is None

    save_policy(engine, "1.0", 0.27, Costs(lgd=0.6, exposure="bill", margin=0.05), actor=ADMIN)
    body = api.post("/predict/realtime/", json=CLIENT).json()
    assert body["threshold"] == 0.27
    assert body["threshold_source"] == "policy threshold of version 1.0"
    assert body["label"] == int(probability >= 0.27)
    bill = max(CLIENT["BILL_AMT1"], 0)
    assert body["expected_loss"] == pytest.approx(probability * 0.6 * bill)

    given = api.post("/predict/realtime/", json=CLIENT, params={"threshold": 0.9}).json()
    assert given["threshold"] == 0.9 and given["threshold_source"] == "given"


@pytest.mark.parametrize("model_id", ["lr", "dt"])
def test_realtime_reasons_on_request(api, engine, model_id):
    register(engine, "1.0", model_id)
    late = {**CLIENT, "PAY_1": 3, "PAY_2": 3, "PAY_3": 3}
    answer = api.post("/predict/realtime/", json=late, params={"reasons": "true"})
    assert answer.status_code == 200, answer.text
    reasons = answer.json()["reasons"]
    assert 1 <= len(reasons) <= 4
    assert all(set(reason) == {"code", "text", "effect"} for reason in reasons)
    effects = [reason["effect"] for reason in reasons]
    assert effects == sorted(effects, reverse=True) and min(effects) > 0
    assert reasons[0]["code"] == "late_payments"
    named = " ".join(reason["code"] + " " + reason["text"] for reason in reasons).lower()
    assert not any(name.lower() in named for name in PROTECTED)
    assert "marital" not in named and "sex" not in named


def test_batch_says_its_threshold(api, engine):
    register(engine, "1.0", "lr")
    records = real_frame().iloc[:10][[ID, *FEATURES]].to_dict("records")
    body = api.post("/predict/batch/", json=records).json()
    assert body["threshold"] == 0.5 and body["threshold_source"] == "0.5 default"
    save_policy(engine, "1.0", 0.2, Costs(), actor=ADMIN)
    body = api.post("/predict/batch/", json=records).json()
    assert body["threshold"] == 0.2
    assert body["threshold_source"] == "policy threshold of version 1.0"
    probabilities = [p["probability"] for p in body["predictions"]]
    assert [p["label"] for p in body["predictions"]] == [int(p >= 0.2) for p in probabilities]


def test_realtime_reasons_of_a_model_trained_without_the_protected_attributes(api, engine):
    register(engine, "1.0", "lr")  # trained with SEX, AGE and MARRIAGE
    register(engine, "2.0", "lr", leave_out_protected=True)
    late = real_frame().iloc[:300].reset_index(drop=True).assign(PAY_1=3, PAY_2=3, PAY_3=3)
    client = telling_client(get_model(engine, "1.0"), get_model(engine, "2.0"), late)

    def reasons(version: str) -> dict:
        asked = {"reasons": "true", "version": version}
        answer = api.post("/predict/realtime/", json=client, params=asked)
        assert answer.status_code == 200, answer.text
        return answer.json()

    using, without = reasons("1.0"), reasons("2.0")
    assert using["protected_note"].startswith("Protected attributes (sex, marital status, age)")
    assert without["version"] == "2.0" and without["protected_note"] is None
    for body in (using, without):
        named = " ".join(r["code"] + " " + r["text"] for r in body["reasons"]).lower()
        assert body["reasons"] and not any(name.lower() in named for name in PROTECTED)
        assert "marital" not in named and "sex" not in named and "age " not in named
