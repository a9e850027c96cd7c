"""GET /monitoring/stability through a TestClient on SQLite and Postgres: the same figures as
core, the champion by default, bad parameters named, unknown versions 404."""

from __future__ import annotations

from math import isclose

import numpy as np

from core.ml.registry import set_champion
from core.serving.stability import stability
from tests.core.test_stability import development_evaluation, log_known_scores, term
from tests.trained import register


def test_stability_as_json_equals_core(api, engine):
    register(engine, "1.0", "lr", evaluation=development_evaluation())
    log_known_scores(engine, np.r_[np.full(300, 0.05), np.full(700, 0.95)])
    response = api.get("/monitoring/stability", params={"version": "1.0", "window": 1_000})
    assert response.status_code == 200
    body = response.json()
    expected = term(0.1, 0.3) + 8 * term(0.1, 0.0) + term(0.1, 0.7)
    assert isclose(body["score"]["value"], expected, rel_tol=1e-9)
    assert body["score"]["verdict"] == "act" and body["scores"] == 1_000
    assert len(body["score"]["bins"]) == 10 and body["period"] == "day"
    assert [p["scores"] for p in body["over_time"]] == [1_000]
    assert body["features"] == stability(engine, "1.0", window=1_000).as_dict()["features"]
    assert "under 0.10 stable" in body["rules"] and body["min_scores"] == 100
    weekly = api.get("/monitoring/stability", params={"version": "1", "period": "week"})
    assert weekly.json()["period"] == "week" and weekly.json()["version"] == "1.0"


def test_the_champion_is_the_default_version(api, engine):
    register(engine, "1.0", "lr", evaluation=development_evaluation())
    register(engine, "1.1", "dt", evaluation={})
    set_champion(engine, "1.0")
    body = api.get("/monitoring/stability").json()
    assert body["version"] == "1.0" and body["scores"] == 0
    assert body["score"]["verdict"] == "too few to judge" and body["score"]["value"] is None
    older = api.get("/monitoring/stability", params={"version": "1.1"}).json()
    assert older["score"] is None
    assert any("stored no holdout probabilities" in note for note in older["notes"])


def test_bad_parameters_are_named(api, engine):
    register(engine, "1.0", "lr", evaluation=development_evaluation())
    for params, field in [
        ({"window": 0}, "window"),
        ({"window": 50_001}, "window"),
        ({"window": "many"}, "window"),
        ({"period": "month"}, "period"),
        ({"version": "one"}, "version"),
    ]:
        response = api.get("/monitoring/stability", params=params)
        assert response.status_code == 422, params
        assert field in response.json()["detail"], response.json()
    missing = api.get("/monitoring/stability", params={"version": "9.0"})
    assert missing.status_code == 404 and missing.json()["detail"] == "no model version 9.0"


def test_no_model_yet_is_404(api, engine):
    from core.db.engine import migrate

    migrate(engine)
    response = api.get("/monitoring/stability")
    assert response.status_code == 404 and "no model version" in response.json()["detail"]
