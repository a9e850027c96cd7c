"""The walkthrough's stack (started once for the module) and its screenshot-taking page."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

import pytest

from tests.e2e.conftest import BROWSER_TIMEOUT_MS, ROOT
from tests.e2e.walkthrough import stack

# Every step's screenshot goes here (git-ignored); E2E_SHOTS names another folder.
SHOTS = Path(os.environ.get("E2E_SHOTS") or ROOT / "e2e-shots")
# The screenshots the README shows: with E2E_DOCS=1 (`make screenshots`) these are copied
# to docs/screenshots/ after a passing walkthrough.
DOCS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def running(tmp_path_factory, real_data_path) -> stack.Stack:
    """Postgres, Redis, the data and an admin, one RQ worker, the API and the dashboard."""
    logs = tmp_path_factory.mktemp("stack-logs")
    admin, password = "ada", secrets.token_urlsafe(12)  # made per run: none is written here
    with (
        stack.postgres(logs) as (database_url, postgres_kind),
        stack.redis_service(logs) as (redis_url, redis_kind),
    ):
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
        key = stack.prepare(env, real_data_path, admin, password)
        with stack.services(env, logs) as (dashboard_url, api_url):
            yield stack.Stack(
                database_url=database_url,
                redis_url=redis_url,
                dashboard_url=dashboard_url,
                api_url=api_url,
                api_key=key,
                admin=admin,
                password=password,
                postgres_kind=postgres_kind,
                redis_kind=redis_kind,
            )
    print(f"walkthrough: Postgres {postgres_kind}, Redis {redis_kind}; logs in {logs}")


class Shots:
    """Numbered screenshots of the viewport, one per step."""

    def __init__(self, page, folder: Path):
        self.page, self.folder, self.taken = page, folder, []
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    def take(self, name: str) -> Path:
        path = self.folder / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=path)
        self.taken.append(path)
        return path

    def publish(self, names: list[str]) -> None:
        """Copy the named screenshots to docs/screenshots/ (without their step number)."""
        DOCS.mkdir(parents=True, exist_ok=True)
        for path in self.taken:
            name = path.name.split("-", 1)[1]
            if name.removesuffix(".png") in names:
                shutil.copyfile(path, DOCS / name)


@pytest.fixture
def walkthrough_page(browser):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(BROWSER_TIMEOUT_MS)
    yield page
    context.close()


@pytest.fixture
def shots(walkthrough_page) -> Shots:
    return Shots(walkthrough_page, SHOTS)
