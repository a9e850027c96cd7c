"""Browser tests: a real `streamlit run` of the dashboard and Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from core.data.loader import load_file
from core.db.engine import make_engine

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dashboard:
    """A running `streamlit run dashboard/app.py` on its own port and environment."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "dashboard" / "app.py"),
            "--server.port",
            str(self.port),
            "--server.headless",
            "true",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ]
        self.log = open(env["DASHBOARD_LOG"], "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy()

    def _wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"streamlit did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (its own browser download does not work here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}; apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def loaded_database(tmp_path_factory, real_data_path) -> str:
    """A SQLite database holding the real data set, shared by the browser tests."""
    path = tmp_path_factory.mktemp("e2e") / "credit.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    load_file(engine, real_data_path.read_bytes(), str(real_data_path))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def real_data_path() -> Path:
    from tests.conftest import REAL_DATA

    if not REAL_DATA.is_file():
        pytest.fail(f"the real data set is not at {REAL_DATA}; set CREDIT_DATA")
    return REAL_DATA


@pytest.fixture
def start_dashboard(tmp_path):
    """Start the dashboard with extra environment; returns its base URL. Stopped after."""
    started: list[Dashboard] = []

    def start(**env: str) -> str:
        env.setdefault("DASHBOARD_LOG", str(tmp_path / f"streamlit-{len(started)}.log"))
        dashboard = Dashboard(env)
        started.append(dashboard)
        return dashboard.url

    yield start
    for dashboard in started:
        dashboard.stop()
