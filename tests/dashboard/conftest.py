"""AppTest helpers: run the dashboard shell against a chosen database and cache."""

from functools import partial
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core import explore
from core.data.loader import load_file
from core.db.engine import make_engine

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py")


@pytest.fixture
def dashboard(settings_env):
    """Returns `open(page=None, **env)`: an AppTest of the shell, run once, on that page."""

    def open_app(page: str | None = None, **env: str | None) -> AppTest:
        settings_env(**env)
        app = AppTest.from_file(APP, default_timeout=60).run()
        if page is not None:
            app.switch_page(page).run()
        return app

    return open_app


@pytest.fixture(scope="session")
def loaded_sqlite(tmp_path_factory) -> str:
    """A SQLite database with the real data set and its summaries (built here, as
    `python -m core load` does, not by whichever page test opens first), shared by the page
    tests."""
    from tests.conftest import REAL_DATA

    url = f"sqlite:///{tmp_path_factory.mktemp('pages') / 'credit.db'}"
    engine = make_engine(url)
    load_file(engine, REAL_DATA.read_bytes(), "credit.csv")
    explore.refresh_summaries(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def db(loaded_sqlite):
    """An engine on the real data set of `loaded_sqlite`, to ask core what pages must show."""
    engine = make_engine(loaded_sqlite)
    yield engine
    engine.dispose()


@pytest.fixture
def real_data_page(dashboard, loaded_sqlite):
    """Returns `open(page, **env)`: the dashboard on `page`, over the real data on SQLite."""

    def open_page(page: str, **env: str | None) -> AppTest:
        return dashboard(page, **{"DATABASE_URL": loaded_sqlite, **env})

    return open_page


def page_opener(page: str, name: str):
    """A fixture `name` returning `open(**env)`: the dashboard on `page` over the real data."""
    return pytest.fixture(lambda real_data_page: partial(real_data_page, page), name=name)
