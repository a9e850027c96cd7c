"""The server itself: `python -m api` serves on the port asked for, and anything unexpected
becomes a 500 JSON without a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.errors import install
from tests.conftest import ROOT
from tests.jobs_support import poll


def test_an_unexpected_error_is_a_500_json_without_a_traceback():
    app = FastAPI()
    install(app)

    @app.get("/broken")
    def broken():
        raise KeyError("a bug")

    response = TestClient(app, raise_server_exceptions=False).get("/broken")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal error (KeyError); it has been logged"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_python_m_api_serves_health_and_the_docs(tmp_path):
    port = free_port()
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'credit.db'}"}
    environment.pop("REDIS_URL", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        poll(lambda: _answers(f"{base}/health"), timeout=120, what="python -m api")
        health = httpx.get(f"{base}/health").json()
        assert health["status"] == "ok" and health["access_control"].startswith("off")
        assert httpx.get(f"{base}/ready").json()["ready"] is True
        paths = httpx.get(f"{base}/openapi.json").json()["paths"]
        assert {"/", "/query/clients/{id}", "/predict/realtime/", "/jobs/{job_id}"} <= set(paths)
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_every_operation_is_documented():
    from api.app import app

    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), f"{method} {path} has no summary"
            if path != "/health":
                errors = [code for code in operation["responses"] if code[0] in "45"]
                assert errors, f"{method} {path} documents no error response"
