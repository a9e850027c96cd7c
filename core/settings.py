"""One typed settings object, read from the environment and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "data"
# The project folder's .env, wherever the process was started from.
ENV_FILE = ROOT / ".env"
DEFAULT_DATABASE_URL = f"sqlite:///{DATA_DIR / 'credit.db'}"
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# HMAC keys shorter than this are refused: 32 random characters are well beyond guessing.
MIN_SIGNING_KEY_LENGTH = 32


class SettingsError(ValueError):
    """A setting has a value the product cannot use; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE, env_ignore_empty=True, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    credit_data: str | None = None
    cache_ttl: int = 300
    # Seconds a Postgres statement may run before the server cancels it (core.db.timeouts);
    # loads, summary rebuilds and training reads get the long one.
    database_statement_timeout: float = Field(30, gt=0)
    database_long_statement_timeout: float = Field(1800, gt=0)
    # The Payments page's medians (core.queries.payment_medians): exact while at most
    # EXACT_MEDIAN_CLIENTS clients match; beyond that, on Postgres, estimated from a random
    # sample of MEDIAN_SAMPLE_SIZE clients drawn per load, read far enough to hold about
    # MEDIAN_SAMPLE_TARGET matching ones.
    exact_median_clients: int = Field(20_000, ge=0)
    median_sample_size: int = Field(200_000, ge=0)
    median_sample_target: int = Field(30_000, gt=0)
    # A dashboard session that sees no action for this many minutes asks for the login again.
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    # The key model artifacts are signed with (core.ml.signing); unset, a random key is made
    # once into MODEL_SIGNING_KEY_FILE and read from there.
    model_signing_key: SecretStr | None = None
    model_signing_key_file: Path = DATA_DIR / "model-signing.key"
    # Days the prediction log keeps each scored client's inputs (core.serving.retention).
    prediction_retention_days: int = Field(90, ge=1)
    # The largest scoring file, in megabytes, the Score page and `python -m core score --csv`
    # accept; Streamlit's server.maxUploadSize (.streamlit/config.toml) must be as large.
    scoring_upload_mb: int = Field(200, gt=0)
    # Clients a portfolio run reads, scores and writes per transaction (core.portfolio.work).
    portfolio_chunk_clients: int = Field(50_000, gt=0)

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(REDIS_SCHEMES):
            raise ValueError(
                f"REDIS_URL={value!r} is not a Redis URL; expected redis://host:port/db"
            )
        return value

    @field_validator("model_signing_key")
    @classmethod
    def _check_signing_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SIGNING_KEY_LENGTH:
            raise ValueError(short_key_message("MODEL_SIGNING_KEY", value.get_secret_value()))
        return value


def short_key_message(where: str, key: str) -> str:
    """Why a signing key is refused: too short. Names where it came from, never the key."""
    return (
        f"{where} is too short ({len(key)} characters); it needs at least "
        f"{MIN_SIGNING_KEY_LENGTH}, e.g. the output of "
        '`python -c "import secrets; print(secrets.token_hex(32))"`'
    )


# Postgres URLs as people write them, all served by psycopg 3: the loaders use its COPY API.
POSTGRES_PREFIXES = ("postgres://", "postgresql://", "postgresql+psycopg2://")


def normalise_database_url(value: str) -> str:
    """Return `value` with the Postgres driver set to psycopg 3; refuse what is not a URL.

    `postgres://`, `postgresql://` and `postgresql+psycopg2://` all become
    `postgresql+psycopg://`; other Postgres drivers are refused by name.
    """
    for prefix in POSTGRES_PREFIXES:
        if value.startswith(prefix):
            value = "postgresql+psycopg://" + value[len(prefix) :]
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(
            f"DATABASE_URL={value!r} is not a database URL; "
            "expected sqlite:///path or postgresql://user@host/db"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"DATABASE_URL uses {url.get_backend_name()!r}; "
            "only sqlite and postgresql are supported"
        )
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        raise ValueError(
            f"DATABASE_URL uses the Postgres driver {url.get_driver_name()!r}; "
            "write postgresql://user@host/db (the product uses psycopg 3)"
        )
    return value


@lru_cache
def get_settings() -> Settings:
    """The settings of this process, read once. Tests call `get_settings.cache_clear()`."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        messages = "; ".join(_setting_message(err) for err in exc.errors())
        raise SettingsError(messages) from None


def _setting_message(error: dict) -> str:
    field = str(error["loc"][0]).upper() if error["loc"] else "settings"
    text = error["msg"].removeprefix("Value error, ")
    return text if text.startswith(field) else f"{field}: {text}"
