"""Settings come from the environment; a wrong URL names the setting."""

import pytest

from core.data.status import data_status
from core.db.engine import make_engine
from core.settings import DEFAULT_DATABASE_URL, ENV_FILE, SettingsError, get_settings
from tests.conftest import fresh_postgres, postgres_url


def test_defaults_are_the_embedded_setup(settings_env):
    settings_env()
    settings = get_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.redis_url is None and settings.credit_data is None


def test_empty_variables_count_as_unset(settings_env):
    settings_env(DATABASE_URL="", REDIS_URL="")
    assert get_settings().database_url == DEFAULT_DATABASE_URL
    assert get_settings().redis_url is None


@pytest.mark.parametrize(
    "given, expected",
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h:5433/db", "postgresql+psycopg://u@h:5433/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u:pw@h:5433/db", "postgresql+psycopg://u:pw@h:5433/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_driver_is_normalised(settings_env, given, expected):
    settings_env(DATABASE_URL=given)
    assert get_settings().database_url == expected


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DATABASE_URL", "not a url", "DATABASE_URL='not a url' is not a database URL"),
        ("DATABASE_URL", "mysql://u@h/db", "DATABASE_URL uses 'mysql'"),
        ("DATABASE_URL", "postgresql+asyncpg://u@h/db", "the Postgres driver 'asyncpg'"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL='localhost:6379' is not a Redis URL"),
        ("CACHE_TTL", "soon", "CACHE_TTL"),
        ("MEDIAN_SAMPLE_TARGET", "0", "MEDIAN_SAMPLE_TARGET: Input should be greater than 0"),
        ("EXACT_MEDIAN_CLIENTS", "-1", "EXACT_MEDIAN_CLIENTS: Input should be greater than or"),
        ("MEDIAN_SAMPLE_SIZE", "many", "MEDIAN_SAMPLE_SIZE: Input should be a valid integer"),
        ("DATABASE_STATEMENT_TIMEOUT", "0", "DATABASE_STATEMENT_TIMEOUT: Input should be greater"),
        ("DATABASE_LONG_STATEMENT_TIMEOUT", "soon", "DATABASE_LONG_STATEMENT_TIMEOUT: Input"),
    ],
)
def test_a_wrong_value_names_the_setting(settings_env, name, value, message):
    settings_env(**{name: value})
    with pytest.raises(SettingsError, match=message):
        get_settings()


@pytest.fixture
def project_dotenv():
    """Writes the project folder's .env for one test; any .env that was there comes back."""
    before = ENV_FILE.read_bytes() if ENV_FILE.exists() else None

    def write(text: str) -> None:
        ENV_FILE.write_text(text)
        get_settings.cache_clear()

    yield write
    if before is None:
        ENV_FILE.unlink(missing_ok=True)
    else:
        ENV_FILE.write_bytes(before)
    get_settings.cache_clear()


def test_the_project_folders_dotenv_is_read_wherever_the_process_starts(
    settings_env, project_dotenv, tmp_path, monkeypatch
):
    settings_env()
    (tmp_path / ".env").write_text("REDIS_URL=redis://127.0.0.1:6379/9\n")  # not ours
    monkeypatch.chdir(tmp_path)
    project_dotenv("REDIS_URL=redis://127.0.0.1:6379/3\nCACHE_TTL=17\n")
    settings = get_settings()
    assert (settings.redis_url, settings.cache_ttl) == ("redis://127.0.0.1:6379/3", 17)


def test_the_environment_wins_over_dotenv(settings_env, project_dotenv):
    settings_env(CACHE_TTL="60")
    project_dotenv("CACHE_TTL=17\n")
    assert get_settings().cache_ttl == 60


def test_a_psycopg2_url_loads_through_psycopg_3():
    url = postgres_url().replace("postgresql://", "postgresql+psycopg2://", 1)
    fresh_postgres(postgres_url()).dispose()
    engine = make_engine(url)
    assert engine.url.drivername == "postgresql+psycopg"
    assert data_status(engine).empty  # connects and migrates without psycopg2 installed
    engine.dispose()
