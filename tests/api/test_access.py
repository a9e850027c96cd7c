"""Access control at the API's edge, on SQLite and Postgres with a real Redis: each way of
calling (no key, garbage, revoked, each role's key in either header) against each endpoint,
allowed or refused with 401/403 and a JSON detail; open while no user exists; core refuses
too; keys never reach a log."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.errors import install
from core import jobs
from core.auth import (
    ACTIONS,
    ROLES,
    SYSTEM,
    AccessDenied,
    Actor,
    add_user,
    new_key,
    recent,
    revoke_key,
)
from core.db.engine import make_engine, migrate
from core.ml.registry import get_version
from core.vocabulary import FEATURES
from tests.api.conftest import client_for
from tests.api.test_server import _answers, free_port
from tests.conftest import ROOT
from tests.jobs_support import load_clients, poll, real_frame, rq_runner
from tests.trained import register

CLIENT = {name: int(real_frame().at[0, name]) for name in FEATURES}
CSV = ",".join(FEATURES) + "\n" + ",".join(str(CLIENT[name]) for name in FEATURES) + "\n"
JOB = "{job}"  # replaced by the id of a queued job made for the test

# (method, path, request keywords, the action it needs, its answer when allowed). The
# allowed answers are the endpoint's own: a training request for a sample larger than the
# data is refused by core after it has checked the caller (409), folds=1 by check_params.
ENDPOINTS = [
    ("GET", "/", {}, "explore", 200),
    ("GET", "/query/clients/1", {}, "explore", 200),
    ("GET", "/query/clients/age/", {"params": {"age": "25-40"}}, "explore", 200),
    ("GET", "/train/data/", {"params": {"limit": 5}}, "train", 200),
    ("GET", "/train/data/", {"headers": {"Accept": "text/csv"}}, "train", 200),
    ("GET", "/train/model/", {"params": {"folds": 1}}, "train", 422),
    ("POST", "/train/model/", {"json": {"version": "2.0", "sample": 99_999}}, "train", 409),
    ("GET", "/jobs", {}, "view_models", 200),
    ("GET", f"/jobs/{JOB}", {}, "view_models", 200),
    ("DELETE", f"/jobs/{JOB}", {}, "train", 200),
    ("GET", "/models", {}, "view_models", 200),
    ("GET", "/models/1.0", {}, "view_models", 200),
    ("GET", "/monitoring/stability", {"params": {"version": "1.0"}}, "view_models", 200),
    ("PUT", "/models/champion", {"json": {"version": "1.0"}}, "set_champion", 200),
    ("GET", "/models/champion/history", {}, "view_models", 200),
    ("GET", "/models/1.0/card", {}, "view_models", 200),
    ("GET", "/models/1.0/comparison", {}, "view_models", 409),  # with itself: the only one
    ("POST", "/predict/realtime/", {"json": CLIENT}, "score", 200),
    ("POST", "/predict/batch/", {"json": [CLIENT]}, "score", 200),
    ("POST", "/predict/batch/", {"content": CSV, "headers": {"Content-Type": "text/csv"}},
     "score", 200),
    ("POST", "/portfolio/runs", {"json": {"lgd": 2}}, "score", 422),
    ("GET", "/portfolio/runs", {}, "view_models", 200),
    ("GET", "/portfolio/runs/1", {}, "view_models", 404),
]  # fmt: skip
OPEN_PATHS = ["/health", "/ready", "/docs", "/openapi.json"]


TEMPLATES = {"/query/clients/1": "/query/clients/{id}", f"/jobs/{JOB}": "/jobs/{job_id}"}
TEMPLATES["/models/1.0"] = "/models/{version}"
TEMPLATES["/models/1.0/card"] = "/models/{version}/card"
TEMPLATES["/models/1.0/comparison"] = "/models/{version}/comparison"
TEMPLATES["/portfolio/runs/1"] = "/portfolio/runs/{run_id}"


def test_the_table_holds_every_operation():
    from api.app import app

    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    tabled = {(method, TEMPLATES.get(path, path)) for method, path, *_ in ENDPOINTS}
    tabled |= {("GET", "/health"), ("GET", "/ready")}
    assert documented == tabled


@pytest.fixture
def deployment(engine, real_redis):
    """50 clients, model 1.0 (not champion) and a queued training job (RQ, no worker)."""
    load_clients(engine, rows=50)
    register(engine, "1.0", "lr")
    params = {"folds": 2, "version": "1.1", "models": ["lr"]}
    return jobs.submit(engine, params, rq_runner(engine, real_redis))


def secure(engine) -> dict[str, str]:
    """A user of each role with an API key, and an analyst's revoked key ("revoked")."""
    keys = {}
    for role in ROLES:
        add_user(engine, role, secrets.token_urlsafe(12), role, actor=SYSTEM)
        keys[role] = new_key(engine, role, actor=SYSTEM)
    keys["revoked"] = new_key(engine, "analyst", actor=SYSTEM)
    revoke_key(engine, keys["revoked"].split("_")[1], actor=SYSTEM)
    return keys


def call(api, method: str, path: str, job_id: str, keywords: dict, headers: dict):
    keywords = dict(keywords)
    keywords["headers"] = {**keywords.get("headers", {}), **headers}
    return api.request(method, path.replace(JOB, job_id), **keywords)


def mismatches(api, job_id: str, headers: dict, expect) -> list[str]:
    """Every endpoint of ENDPOINTS whose answer is not `expect(action, allowed_status)`."""
    found = []
    for method, path, keywords, action, allowed in ENDPOINTS:
        response = call(api, method, path, job_id, keywords, headers)
        problem = expect(response, action, allowed)
        if problem:
            found.append(f"{method} {path}: {problem} (got {response.status_code})")
    return found


def refused_401(response, _action, _allowed) -> str | None:
    if response.status_code != 401:
        return "expected 401"
    if response.headers.get("www-authenticate") != "Bearer":
        return "401 without WWW-Authenticate: Bearer"
    if "API key" not in response.json()["detail"]:
        return f"detail does not speak of the key: {response.json()}"
    return None


def by_role(role: str):
    def expect(response, action, allowed) -> str | None:
        if Actor(role, role).may(action):
            return None if response.status_code == allowed else f"expected {allowed}"
        if response.status_code != 403:
            return "expected 403"
        needed = f"needs the {ACTIONS[action]} role"
        return None if needed in response.json()["detail"] else f"403 detail lacks {needed!r}"

    return expect


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
@pytest.mark.parametrize("role", ROLES)
def test_each_role_against_each_endpoint(api, engine, deployment, role, header):
    key = secure(engine)[role]
    sent = {"Authorization": f"Bearer {key}"} if header == "bearer" else {"X-API-Key": key}
    assert mismatches(api, deployment, sent, by_role(role)) == []
    for path in OPEN_PATHS:
        assert api.get(path, headers=sent).status_code == 200, path


def test_no_key_or_a_bad_one_is_401_on_every_endpoint(api, engine, deployment):
    keys = secure(engine)
    forged = "ck_" + keys["admin"][3:11] + "_" + secrets.token_urlsafe(32)  # a real prefix
    cases = {
        "no key": {},
        "garbage bearer": {"Authorization": "Bearer not-a-key"},
        "forged key": {"Authorization": f"Bearer {forged}"},
        "revoked bearer": {"Authorization": f"Bearer {keys['revoked']}"},
        "revoked x-api-key": {"X-API-Key": keys["revoked"]},
        "empty x-api-key": {"X-API-Key": ""},
        "admin key, Basic scheme": {"Authorization": f"Basic {keys['admin']}"},
        "admin key, no scheme": {"Authorization": keys["admin"]},
    }
    for name, headers in cases.items():
        assert mismatches(api, deployment, headers, refused_401) == [], name
        for path in OPEN_PATHS:
            assert api.get(path, headers=headers).status_code == 200, (name, path)
    assert api.get("/health").json() == {"status": "ok", "access_control": "on"}
    # Nothing changed: the job is still queued and no champion was chosen.
    assert jobs.get_job(engine, deployment).state == "queued"
    assert not get_version(engine, "1.0").is_champion


def test_with_no_user_every_endpoint_is_open_and_health_says_so(api, engine, deployment):
    health = api.get("/health").json()
    assert health["access_control"].startswith("off: no users")
    open_ = by_role("admin")
    assert mismatches(api, deployment, {}, open_) == []
    garbage = {"Authorization": "Bearer not-a-key"}
    assert api.get("/models", headers=garbage).status_code == 200
    # The first user turns access control on at once in this process.
    add_user(engine, "ana", secrets.token_urlsafe(12), "admin", actor=SYSTEM)
    assert api.get("/health").json()["access_control"] == "on"
    assert api.get("/models").status_code == 401


def test_health_without_a_database_still_answers(real_redis, redis_url, settings_env):
    nowhere = "postgresql://root@127.0.0.1:1/nowhere"
    with client_for(settings_env, DATABASE_URL=nowhere, REDIS_URL=redis_url) as api:
        health = api.get("/health")
        assert health.status_code == 200
        assert health.json()["access_control"].startswith("unknown")
        assert api.get("/models").status_code == 503


def test_the_champion_route_as_analyst_is_refused_and_changes_nothing(api, engine):
    register(engine, "1.0", "lr")
    keys = secure(engine)
    refused = api.put(
        "/models/champion",
        json={"version": "1.0"},
        headers={"Authorization": f"Bearer {keys['analyst']}"},
    )
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": "analyst (analyst) may not choose the champion: it needs the admin role"
    }
    assert not get_version(engine, "1.0").is_champion
    assert [e.action for e in recent(engine)].count("champion_changed") == 0
    chosen = api.put(
        "/models/champion", json={"version": "1.0"}, headers={"X-API-Key": keys["admin"]}
    )
    assert chosen.status_code == 200 and get_version(engine, "1.0").is_champion


def test_core_hears_who_called(api, engine):
    """The routes pass the caller into core: the audit log names the key's owner."""
    load_clients(engine, rows=50)
    register(engine, "1.0", "lr")
    keys = secure(engine)
    analyst = {"Authorization": f"Bearer {keys['analyst']}"}
    queued = api.post("/train/model/", json={"version": "2.0", "models": ["lr"]}, headers=analyst)
    assert queued.status_code == 202
    cancelled = api.delete(queued.json()["location"], headers=analyst)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    admin = {"Authorization": f"Bearer {keys['admin']}"}
    assert api.put("/models/champion", json={"version": "1.0"}, headers=admin).status_code == 200
    done = {(e.actor, e.action) for e in recent(engine)}
    assert {("analyst", "training_submitted"), ("admin", "champion_changed")} <= done


def test_a_revoked_key_is_refused_at_once(api, engine):
    keys = secure(engine)
    viewer = {"X-API-Key": keys["viewer"]}
    assert api.get("/models", headers=viewer).status_code == 200
    revoke_key(engine, keys["viewer"][:11], actor=SYSTEM)
    refused = api.get("/models", headers=viewer)
    assert refused.status_code == 401 and refused.json()["detail"].startswith("the API key")


def test_access_denied_from_core_is_a_403_json():
    app = FastAPI()
    install(app)

    @app.get("/guarded")
    def guarded():
        raise AccessDenied("ana (viewer) may not train models: it needs the analyst role")

    response = TestClient(app, raise_server_exceptions=False).get("/guarded")
    assert response.status_code == 403
    assert response.json() == {
        "detail": "ana (viewer) may not train models: it needs the analyst role"
    }


def test_keys_never_reach_our_logs(api, engine, caplog):
    keys = secure(engine)
    caplog.set_level(logging.DEBUG)
    for headers in (
        {"Authorization": f"Bearer {keys['admin']}"},
        {"X-API-Key": keys["viewer"]},
        {"X-API-Key": keys["revoked"]},
    ):
        for method, path in (("GET", "/models"), ("PUT", "/models/champion"), ("GET", "/x")):
            api.request(method, path, headers=headers, json={"version": "1.0"})
    assert "/models/champion" in caplog.text  # the log was captured
    for key in keys.values():
        assert key not in caplog.text and key.split("_", 2)[2] not in caplog.text


def test_keys_never_reach_the_servers_access_log(tmp_path):
    """`python -m api` with its access log on: requests with keys, good and bad, are logged
    without them."""
    database = f"sqlite:///{tmp_path / 'credit.db'}"
    engine = make_engine(database)
    migrate(engine)
    keys = secure(engine)
    engine.dispose()
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": database}
    environment.pop("REDIS_URL", None)
    output = tmp_path / "server.log"
    with output.open("wb") as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            poll(lambda: _answers(f"{base}/health"), timeout=120, what="python -m api")
            for key in keys.values():
                for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
                    httpx.get(f"{base}/models", headers=headers)
                    httpx.put(f"{base}/models/champion", headers=headers, json={"version": "9"})
        finally:
            server.terminate()
            server.wait(timeout=30)
    logged = output.read_text()
    assert '"GET /models HTTP/1.1" 401' in logged and '"GET /models HTTP/1.1" 200' in logged
    assert '"PUT /models/champion HTTP/1.1" 403' in logged
    for key in keys.values():
        assert key not in logged and key.split("_", 2)[2] not in logged
