"""Shared UI pieces: cached resources, error display, progress bars."""

from __future__ import annotations

import re
from functools import lru_cache

import pandas as pd
import streamlit as st

from core.cache import QueryCache, get_store
from core.db.engine import get_engine
from core.settings import SettingsError, get_settings
from dashboard import formats


def settings():
    """The settings, or a readable error on the page when one is wrong."""
    try:
        return get_settings()
    except SettingsError as exc:
        st.error(f"The dashboard is misconfigured: {exc}")
        st.stop()


# One engine, store and query cache per process, memoised by core and lru_cache rather than
# st.cache_resource: a page asks for the engine a dozen times a run, and each
# st.cache_resource call hashes its arguments (a tenth of the Train page's CPU).
def engine():
    """The database engine named by DATABASE_URL (one per process)."""
    return get_engine(settings().database_url)


def store():
    """The Redis client named by REDIS_URL, or the in-process stand-in."""
    return get_store(settings().redis_url)


@lru_cache(maxsize=8)
def _query_cache(url: str | None, ttl: int) -> QueryCache:
    return QueryCache(get_store(url), ttl)


def query_cache() -> QueryCache:
    """The query cache on REDIS_URL (one per process, so a Redis found down stays skipped
    for a few seconds across reruns and sessions)."""
    current = settings()
    return _query_cache(current.redis_url, current.cache_ttl)


# Characters that Markdown (CommonMark, GitHub's extensions and Streamlit's own: `:red[..]`,
# `:material/..:`, `$..$`) gives a meaning; a backslash makes each plain.
MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=&])")


def escape_markdown(text: str) -> str:
    """`text` from outside (a link's value) shown as it is by st.warning, st.markdown and
    the like: no link, image, HTML, formula or colour can be made of it."""
    return MARKDOWN.sub(r"\\\1", text)


def keep_widget_state(keys) -> None:
    """Keep what the widgets `keys` hold while they are not drawn (a closed tab's widgets):
    Streamlit forgets a widget's value after a run that does not draw it, unless the value
    was last set through session state."""
    for key in keys:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]


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

    def stage(self, text: str) -> None:
        """Show the step after the rows are written (a `stage` callback of core.data.publish)."""
        self.bar.progress(1.0, text=f"{text}...")

    def clear(self) -> None:
        self.bar.empty()


NOT_RECORDED = "not recorded"


def load_history_table(records) -> pd.DataFrame:
    """The load history (core.data.status.load_history, newest first) as the text Home
    shows: counts with thousands separators; counts from before the history was kept say
    so."""

    def count(value: int | None) -> str:
        return NOT_RECORDED if value is None else f"{value:,}"

    return pd.DataFrame(
        {
            "Loaded at": [formats.timestamp(r.loaded_at) for r in records],
            "File": [r.source for r in records],
            "Clients added": [count(r.clients_added) for r in records],
            "Clients updated": [count(r.clients_updated) for r in records],
            "Payment rows written": [count(r.payments_written) for r in records],
            "Replaced the data set": ["yes" if r.replaced else "no" for r in records],
            "Clients after": [formats.count(r.clients) for r in records],
            "Data version": [str(r.version) for r in records],
            "SHA-256": [formats.text(r.sha256) for r in records],
        }
    )
