"""Shared UI pieces: cached resources, error display, progress bars."""

from __future__ import annotations

import streamlit as st

from core.cache import QueryCache, get_store
from core.db.engine import get_engine
from core.settings import SettingsError, get_settings


def settings():
    """The settings, or a readable error on the page when one is wrong."""
    try:
        return get_settings()
    except SettingsError as exc:
        st.error(f"The dashboard is misconfigured: {exc}")
        st.stop()


@st.cache_resource(show_spinner=False)
def _engine(url: str):
    return get_engine(url)


@st.cache_resource(show_spinner=False)
def _store(url: str | None):
    return get_store(url)


def engine():
    """The database engine named by DATABASE_URL (one per process)."""
    return _engine(settings().database_url)


def store():
    """The Redis client named by REDIS_URL, or the in-process stand-in."""
    return _store(settings().redis_url)


@st.cache_resource(show_spinner=False)
def _query_cache(url: str | None, ttl: int):
    return QueryCache(_store(url), ttl)


def query_cache() -> QueryCache:
    """The query cache on REDIS_URL (one per process, so a Redis found down stays skipped
    for a few seconds across reruns and sessions)."""
    current = settings()
    return _query_cache(current.redis_url, current.cache_ttl)


def stop_with(error: Exception, what: str = "The database") -> None:
    """Show a failure as a sentence, not a traceback, and end this script run."""
    st.error(f"{what} is not available right now, so this page cannot be shown.\n\n{error}")
    st.caption("The page works again as soon as it answers: reload to retry.")
    st.stop()


def stop_without_clients(status) -> None:
    """On a page that needs data: say how to load it and end this script run when the
    database holds no clients (`status` is core.status.data_status's answer)."""
    if status.empty:
        st.info("The database has no clients yet: load the data set on the Home page.")
        st.stop()


class ProgressBar:
    """A `progress(done, total)` callback that drives an st.progress bar."""

    def __init__(self, label: str):
        self.label = label
        self.bar = st.progress(0.0, text=label)

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        self.bar.progress(min(fraction, 1.0), text=f"{self.label}: {done:,} of {total:,} rows")

    def clear(self) -> None:
        self.bar.empty()
