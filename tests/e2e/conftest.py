"""Browser tests: a real `streamlit run` of the dashboard and Debian's Chromium via Playwright.

Without Chromium they are skipped and say why; in CI (CI=true) that is a failure instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from core import explore
from core.data.loader import load_file
from core.db.engine import make_engine
from tests.conftest import unavailable
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
# How long a browser action or an `expect` waits, and how long the dashboard may take to
# start. Bounds on a hang, not speed targets: a loaded 2-core machine running a Streamlit
# rerun, a query and Chromium's layout at once needs many seconds where an idle one needs
# under one. Playwright's own `expect` default (5 s) is not enough there.
BROWSER_TIMEOUT_MS = 60_000
START_TIMEOUT_S = 120
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


APP = ROOT / "dashboard" / "app.py"
# Streamlit reads .streamlit/config.toml (no error details, no Deploy button, the upload
# limit) from the directory it starts in: the project root, as `make run` and the image do.
SERVER_CWD = ROOT


def server_options(port: int) -> list[str]:
    """The options after `streamlit run dashboard/app.py` of the browser tests' dashboard."""
    return [
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dashboard:
    """A running `streamlit run dashboard/app.py` on its own port and environment."""

    def __init__(self, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(env["DASHBOARD_LOG"], "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(APP), *server_options(self.port)],
            cwd=SERVER_CWD,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        wait_for(
            self._healthy,
            START_TIMEOUT_S,
            lambda: f"streamlit did not answer on {self.url}; its log ends:\n{self.log_tail()}",
            interval=0.3,
        )

    def _healthy(self) -> bool:
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"streamlit exited with {code}; its log ends:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=5) as reply:
                return reply.status == 200
        except OSError:
            return False

    def log_tail(self, size: int = 3000) -> str:
        self.log.flush()
        return Path(self.log.name).read_bytes()[-size:].decode(errors="replace")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def find_chromium() -> tuple[str | None, str]:
    """The Chromium to drive, or None and why not: the CHROMIUM variable if set, else the
    `chromium` on PATH (Debian's /usr/bin/chromium)."""
    named = os.environ.get("CHROMIUM")
    if named:
        if os.path.isfile(named) and os.access(named, os.X_OK):
            return named, ""
        return None, f"CHROMIUM={named} is not an executable file"
    found = shutil.which("chromium")
    if found:
        return found, ""
    return None, "Chromium is not installed (no `chromium` on PATH, CHROMIUM not set)"


@pytest.fixture(scope="session", autouse=True)
def chromium() -> str:
    """The Chromium executable, looked up before any data is loaded or dashboard started:
    without it every browser test is skipped with the reason, or fails in CI."""
    path, why = find_chromium()
    if path is None:
        unavailable(f"{why}; apt-get install chromium, or set CHROMIUM to its path")
    return path


@pytest.fixture(scope="session")
def browser(chromium):
    """Debian's Chromium driven by Playwright (its own browser download does not work here)."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=BROWSER_TIMEOUT_MS)  # page.set_default_timeout does not reach it
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    yield page
    context.close()


@pytest.fixture(scope="session")
def loaded_database(tmp_path_factory, real_data_path) -> str:
    """A SQLite database holding the real data set and its summaries, shared by the browser
    tests: built here, as `python -m core load` does, so no page builds them while a test
    waits."""
    path = tmp_path_factory.mktemp("e2e") / "credit.db"
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    load_file(engine, real_data_path.read_bytes(), str(real_data_path))
    explore.refresh_summaries(engine)
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
