"""Settings come from the environment; a wrong URL names the setting."""

import pytest

from core.settings import DEFAULT_DATABASE_URL, SettingsError, get_settings


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
        ("REDIS_URL", "localhost:6379", "REDIS_URL='localhost:6379' is not a Redis URL"),
        ("CACHE_TTL", "soon", "CACHE_TTL"),
        ("MEDIAN_SAMPLE_TARGET", "0", "MEDIAN_SAMPLE_TARGET: Input should be greater than 0"),
        ("EXACT_MEDIAN_CLIENTS", "-1", "EXACT_MEDIAN_CLIENTS: Input should be greater than or"),
        ("MEDIAN_SAMPLE_SIZE", "many", "MEDIAN_SAMPLE_SIZE: Input should be a valid integer"),
    ],
)
def test_a_wrong_value_names_the_setting(settings_env, name, value, message):
    settings_env(**{name: value})
    with pytest.raises(SettingsError, match=message):
        get_settings()


def test_dotenv_file_is_read(settings_env, tmp_path, monkeypatch):
    settings_env()
    (tmp_path / ".env").write_text("REDIS_URL=redis://127.0.0.1:6379/3\n")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    assert get_settings().redis_url == "redis://127.0.0.1:6379/3"
