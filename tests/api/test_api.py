"""Every endpoint through a TestClient on SQLite and Postgres with a real Redis: answers,
and errors (404, 409, 422, 503), as JSON with a plain detail."""

from __future__ import annotations

import io
import json
import re

import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url

from core.data.features import training_csv
from core.db.engine import forget_engines, get_engine
from core.db.schema import ModelVersion
from core.serving.scoring import score
from core.vocabulary import FEATURES, ID
from tests.api.conftest import client_for
from tests.conftest import fresh_postgres, postgres_url
from tests.jobs_support import load_clients, real_frame
from tests.tampering import evil_artifact, tamper
from tests.tcp_proxy import TcpProxy
from tests.trained import register

CLIENT = {name: int(real_frame().at[0, name]) for name in FEATURES}
NOWHERE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1
NOWHERE_DATABASE = "postgresql://root@127.0.0.1:1/nowhere"


def test_visits_are_counted_in_redis(api, real_redis):
    assert api.get("/").json()["hits"] == 1
    second = api.get("/").json()
    assert second == {
        "hits": 2,
        "message": "Welcome to the home page of the API. I have been visited 2 times",
    }
    assert int(real_redis.get("credit:hits")) == 2


def test_health_and_readiness(api):
    health = api.get("/health").json()
    assert health["status"] == "ok" and health["access_control"].startswith("off: no users")
    ready = api.get("/ready")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    assert "answers" in ready.json()["database"] and "answers" in ready.json()["redis"]


def test_a_redis_that_is_down_gives_503_with_the_reason(engine, settings_env):
    with client_for(settings_env, DATABASE_URL=url(engine), REDIS_URL=NOWHERE_REDIS) as api:
        visit = api.get("/")
        assert visit.status_code == 503 and "127.0.0.1:1" in visit.json()["detail"]
        ready = api.get("/ready")
        assert ready.status_code == 503 and ready.json()["ready"] is False
        assert "unavailable" in ready.json()["redis"] and "answers" in ready.json()["database"]
        assert api.get("/health").status_code == 200
        # Queries still answer, uncached; a job cannot be queued.
        load_clients(engine, rows=50)
        assert api.get("/query/clients/age/").json()["clients"] == 50
        refused = api.post("/train/model/", json={"version": "1.0", "models": ["lr"]})
        assert refused.status_code == 503 and "could not be queued" in refused.json()["detail"]


def test_a_database_that_is_down_gives_503_with_the_reason(real_redis, redis_url, settings_env):
    with client_for(settings_env, DATABASE_URL=NOWHERE_DATABASE, REDIS_URL=redis_url) as api:
        assert api.get("/health").status_code == 200
        for path in ("/ready", "/query/clients/1", "/query/clients/age/", "/models", "/jobs"):
            response = api.get(path)
            assert response.status_code == 503, path
            assert "127.0.0.1:1/nowhere" in json.dumps(response.json()), path
            assert "Traceback" not in response.text


def test_a_stalled_database_gives_503_with_the_reason(real_redis, redis_url, settings_env):
    """Postgres behind a proxy that stops forwarding: a readable 503 within the (small)
    statement timeout, not a hung request; once the path heals the same process answers."""
    target = make_url(postgres_url())
    fresh_postgres(postgres_url()).dispose()
    with TcpProxy(target.host or "127.0.0.1", target.port or 5432) as proxy:
        database = target.set(host="127.0.0.1", port=proxy.port)
        database = database.render_as_string(hide_password=False)
        environment = dict(DATABASE_URL=database, REDIS_URL=redis_url)
        with client_for(settings_env, **environment, DATABASE_STATEMENT_TIMEOUT="1") as api:
            load_clients(get_engine(database), rows=100)
            assert api.get("/query/clients/1").status_code == 200
            proxy.stall()
            for path in ("/query/clients/2", "/query/clients/age/?sex=2"):
                response = api.get(path)
                assert response.status_code == 503, path
                detail = response.json()["detail"]
                assert re.search(
                    f"database .*:{proxy.port}/.* (did not answer|is unavailable)", detail
                )
                assert "Traceback" not in response.text
            proxy.resume()
            assert api.get("/query/clients/2").status_code == 200
    forget_engines()


def url(engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_a_client_and_their_payments(api, engine):
    load_clients(engine, rows=100)
    found = api.get("/query/clients/1").json()
    first = real_frame().iloc[0]
    assert found["id"] == 1 and found["limit_bal"] == first["LIMIT_BAL"]
    assert found["sex_label"] == {1: "male", 2: "female"}[int(first["SEX"])]
    assert [m["month"] for m in found["payments"]] == [6, 5, 4, 3, 2, 1]
    assert found["payments"][-1]["status"] == first["PAY_1"]
    assert found["payments"][-1]["bill_amt"] == first["BILL_AMT1"]
    missing = api.get("/query/clients/100000")
    assert missing.status_code == 404 and missing.json() == {"detail": "no client with id 100000"}
    assert api.get("/query/clients/-3").status_code == 404
    assert api.get("/query/clients/abc").status_code == 422


def test_average_age_with_the_old_and_the_dashboards_filters(api, engine):
    load_clients(engine, rows=1_000)
    frame = real_frame().iloc[:1_000]
    old = api.get("/query/clients/age/", params={"gender": 2, "education": 2, "marriage": 1})
    chosen = frame[(frame.SEX == 2) & (frame.EDUCATION == 2) & (frame.MARRIAGE == 1)]
    assert old.json()["clients"] == len(chosen)
    assert old.json()["average_age"] == pytest.approx(chosen.AGE.mean())
    assert api.get("/query/clients/age/").json()["average_age"] == pytest.approx(frame.AGE.mean())
    new = api.get("/query/clients/age/", params={"age": "25-40", "defaulted": "yes"}).json()
    chosen = frame[frame.AGE.between(25, 40) & (frame["default"] == 1)]
    assert new["clients"] == len(chosen) and new["filters"] == {"age": "25-40", "defaulted": "yes"}
    none = api.get("/query/clients/age/", params={"age": "79-79", "limit": "10000-10000"}).json()
    assert none["clients"] == 0 and none["average_age"] is None
    bad = api.get("/query/clients/age/", params={"age": "old", "education": "9"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"age", "education"}
    both = api.get("/query/clients/age/", params={"gender": 1, "sex": 2})
    assert both.status_code == 422


def test_the_training_frame_in_pages_and_as_csv(api, engine):
    load_clients(engine, rows=250)
    first = api.get("/train/data/", params={"limit": 100}).json()
    assert first["count"] == 100 and first["next_offset"] == 100
    assert first["rows"][0][ID] == 1 and set(first["rows"][0]) == {ID, *FEATURES, "default"}
    last = api.get("/train/data/", params={"limit": 100, "offset": 200}).json()
    assert last["count"] == 50 and last["next_offset"] is None
    assert api.get("/train/data/", params={"limit": 0}).status_code == 422
    csv = api.get("/train/data/", headers={"Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.content == training_csv(engine)


def test_training_is_queued_refused_followed_and_cancelled(api, engine):
    load_clients(engine, rows=300)
    queued = api.post("/train/model/", json={"folds": 2, "version": "1.0", "models": ["lr"]})
    assert queued.status_code == 202
    job_id = queued.json()["job_id"]
    assert queued.headers["location"] == f"/jobs/{job_id}" == queued.json()["location"]
    job = api.get(f"/jobs/{job_id}").json()
    assert job["state"] == "queued" and job["models"] == ["lr"] and job["runner"] == "rq"
    assert [row["model_id"] for row in job["leaderboard"]] == ["lr"]

    taken = api.post("/train/model/", json={"version": "1.0"})
    assert taken.status_code == 409 and "already being trained" in taken.json()["detail"]
    bad = api.post(
        "/train/model/", json={"folds": 1, "version": "x", "models": ["zz"], "metric": "best"}
    )
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["folds", "version", "models", "metric"]
    unknown = api.post("/train/model/", json={"version": "2.0", "epochs": 3})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "epochs"
    too_many = api.post("/train/model/", json={"version": "2.0", "sample": 5_000})
    assert too_many.status_code == 409 and "larger than" in too_many.json()["detail"]

    old_way = api.get("/train/model/", params={"folds": 3, "version": 1.5})
    assert old_way.status_code == 202
    assert [j["id"] for j in api.get("/jobs").json()] == [old_way.json()["job_id"], job_id]

    cancelled = api.delete(f"/jobs/{job_id}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert api.delete(f"/jobs/{job_id}").status_code == 409
    nobody = "00000000-0000-0000-0000-000000000000"
    assert api.get(f"/jobs/{nobody}").status_code == 404
    assert api.delete(f"/jobs/{nobody}").status_code == 404
    assert api.get("/jobs/not-a-job").status_code == 422


def test_training_is_refused_without_clients(api):
    refused = api.post("/train/model/", json={"version": "1.0"})
    assert refused.status_code == 409 and "empty" in refused.json()["detail"]
    assert api.get("/jobs").json() == []


def test_model_versions_and_the_champion(api, engine):
    assert api.get("/models").json() == {"champion": None, "default": None, "versions": []}
    register(engine, "1.0", "lr", evaluation={"holdout_rows": 10, "train_sample": {"AGE": [1]}})
    register(engine, "1.1", "dt")
    listed = api.get("/models").json()
    assert [v["version"] for v in listed["versions"]] == ["1.1", "1.0"]
    assert listed["champion"] is None and listed["default"] == "1.1"
    detail = api.get("/models/1.0").json()
    assert detail["model_id"] == "lr" and len(detail["sha256"]) == 64
    assert detail["evaluation"] == {"holdout_rows": 10}  # samples and curves left out
    assert api.get("/models/7.0").status_code == 404
    assert api.get("/models/abc").status_code == 422
    chosen = api.put("/models/champion", json={"version": "1.0"})
    assert chosen.status_code == 200 and chosen.json()["champion"] == "1.0"
    assert api.get("/models").json()["default"] == "1.0"
    assert api.put("/models/champion", json={"version": "9.0"}).status_code == 404
    assert api.put("/models/champion", json={"version": "x"}).status_code == 422


def test_realtime_predictions(api, engine):
    no_model = api.post("/predict/realtime/", json=CLIENT)
    assert no_model.status_code == 409 and "no model" in no_model.json()["detail"]
    register(engine, "1.0", "lr")
    scored = api.post("/predict/realtime/", json=CLIENT)
    assert scored.status_code == 200
    expected = score(engine, CLIENT)
    assert scored.json()["probability"] == pytest.approx(expected.probability, abs=1e-12)
    assert scored.json()["version"] == "1.0" and scored.json()["threshold"] == 0.5
    assert scored.json()["label_text"] == expected.label_text
    snake = {name.lower(): value for name, value in CLIENT.items()}
    low = api.post("/predict/realtime/", json=snake, params={"version": "1.0", "threshold": 0})
    assert low.json()["label"] == 1 and low.json()["label_text"] == "Default"
    assert api.post("/predict/realtime/", json=CLIENT, params={"version": "3.0"}).status_code == 404
    assert api.post("/predict/realtime/", json=CLIENT, params={"threshold": 2}).status_code == 422
    bad = api.post("/predict/realtime/", json={**CLIENT, "AGE": 150, "SEX": "x"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["SEX", "AGE"]
    assert "AGE: 150 is outside" in bad.json()["detail"]
    assert api.post("/predict/realtime/", content=b"{not json").status_code == 422


def test_batch_predictions_from_json_and_csv(api, engine):
    register(engine, "1.0", "lr")
    frame = real_frame().iloc[:20]
    records = frame[[ID, *FEATURES]].to_dict("records")
    from_json = api.post("/predict/batch/", json=records)
    assert from_json.status_code == 200
    body = from_json.json()
    assert body["count"] == 20 and body["version"] == "1.0"
    assert [p["ID"] for p in body["predictions"]] == frame[ID].tolist()
    expected = score(engine, frame)
    assert [p["probability"] for p in body["predictions"]] == pytest.approx(
        expected["probability"].tolist(), abs=1e-12
    )
    data = frame.to_csv(index=False).encode()
    uploaded = api.post("/predict/batch/", files={"file": ("clients.csv", io.BytesIO(data))})
    posted = api.post("/predict/batch/", content=data, headers={"Content-Type": "text/csv"})
    assert uploaded.json() == posted.json() == body

    bad_json = api.post("/predict/batch/", json=[records[0], {**records[1], "AGE": "x"}])
    assert bad_json.status_code == 422
    assert bad_json.json()["errors"][0] | {"message": ""} == {
        "index": 1,
        "field": "AGE",
        "message": "",
    }
    bad_csv = data.replace(b"\n2,", b"\n2,abc", 1)
    refused = api.post("/predict/batch/", content=bad_csv, headers={"Content-Type": "text/csv"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["line"] == 3
    assert api.post("/predict/batch/", json=[]).status_code == 422
    assert api.post("/predict/batch/", json=[1, 2]).status_code == 422
    assert api.post("/predict/batch/", json=[{}] * 100_001).status_code == 413
    plain = api.post("/predict/batch/", content=b"x", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415


def test_a_damaged_model_is_a_409_that_says_so(api, engine):
    register(engine, "1.0", "lr")
    with engine.begin() as connection:
        connection.execute(update(ModelVersion).values(artifact=b"not the pickled model"))
    damaged = api.post("/predict/realtime/", json=CLIENT)
    assert damaged.status_code == 409 and "damaged" in damaged.json()["detail"]


def test_a_tampered_model_is_refused_and_never_unpickled(api, engine, tmp_path):
    """A pickle that runs code, stored with a matching sha256 but no valid signature."""
    register(engine, "1.0", "lr")
    marker = tmp_path / "ran"
    tamper(engine, "1.0", evil_artifact(marker))
    refused = [
        api.post("/predict/realtime/", json=CLIENT),
        api.post("/predict/realtime/?version=1.0", json=CLIENT),
        api.post("/predict/batch/", json=[CLIENT, CLIENT]),
        api.put("/models/champion", json={"version": "1.0"}),
    ]
    for answer in refused:
        assert answer.status_code == 409
        assert answer.json()["detail"].startswith(
            "model version 1.0 is not signed with this deployment's MODEL_SIGNING_KEY: "
            "refused, not loaded"
        )
    assert not marker.exists()
    assert api.get("/models").json()["champion"] is None
