"""Home: how the portfolio, the champion, training, score stability and the latest
portfolio run are doing, with links to act on each; loading data, services and the audit
log for admins."""

import streamlit as st

from core import jobs
from core.auth import AccessDenied, recent
from core.cache import count_visit, redis_status
from core.data.dataset import DataError
from core.data.publish import publish_file
from core.data.status import data_status, load_history
from core.db.engine import DatabaseError, database_label
from core.overview import latest_job, model_overview, portfolio, portfolio_runs
from core.settings import SettingsError, get_settings
from dashboard import formats
from dashboard.access import audit_table, current, needs, show_refusal
from dashboard.components import (
    ProgressBar,
    engine,
    load_history_table,
    query_cache,
    stop_with,
    store,
)
from dashboard.home_panels import (
    champion_panel,
    job_panel,
    portfolio_panel,
    portfolio_run_panel,
    stability_panel,
)


def upload_form(replace: bool) -> None:
    upload = st.file_uploader("Data file (CSV)", type=["csv"], key="upload_file")
    if st.button("Load file", key="upload_load", disabled=upload is None, type="primary"):
        bar = ProgressBar("Loading")
        try:
            published = publish_file(
                engine(),
                store(),
                upload.getvalue(),
                upload.name,
                replace=replace,
                progress=bar,
                stage=bar.stage,
                actor=current(),
            )
        except AccessDenied as exc:
            bar.clear()
            show_refusal(exc)
            return
        except DataError as exc:
            bar.clear()
            st.error("Nothing was loaded: the file has problems.\n\n" + _bullets(exc))
            return
        except DatabaseError as exc:
            bar.clear()
            st.error(f"Nothing was loaded: {exc}")
            return
        bar.clear()
        if published.summaries_error:
            st.warning(
                "The explore pages will build their summaries on first use: "
                + published.summaries_error
            )
        st.success(f"Loaded {published.load.report()}")
        st.button("Show the new data", key="upload_done")


def _bullets(exc: DataError) -> str:
    lines = [f"- {p}" for p in exc.problems]
    if exc.total > len(exc.problems):
        lines.append(f"- ... and {exc.total - len(exc.problems)} more")
    return "\n".join(lines)


def empty_database() -> None:
    """What to do while no client is loaded: admins upload, others wait for one."""
    if not current().may("load_data"):
        st.info("The database has no clients yet: an admin loads the data set.")
        return
    st.info(
        "The database has no clients yet. Load the credit data set with "
        "`python -m core load --csv PATH` (`make run` does it for you), or upload a file "
        "below. Accepted headers: PyCaret's (`PAY_1`..`PAY_6`, `default`), the UCI original "
        "(`ID`, `PAY_0`, `default payment next month`), `default.payment.next.month`, "
        "or `X1`..`X23` and `Y`."
    )
    upload_form(replace=False)


def services() -> None:
    """Whether the database, the cache and the training workers answer, and the visits."""
    database_column, cache_column, workers_column = st.columns(3)
    database_column.success(f"Database: {database_label(engine())} answers")
    cache_ok, cache_text = redis_status(store())
    (cache_column.success if cache_ok else cache_column.warning)(f"Cache: {cache_text}")
    try:
        runner = jobs.runner_for(get_settings()).status(engine())
    except (DatabaseError, SettingsError) as exc:
        workers_column.warning(f"Workers: {exc}")
    else:
        (workers_column.success if runner.ok else workers_column.warning)(f"Workers: {runner.text}")
    st.metric("Visits", "unavailable" if visits.value is None else f"{visits.value:,}")


def audit_log() -> None:
    st.markdown("**Audit log**")
    try:
        entries = recent(engine())
    except DatabaseError as exc:
        st.error(f"The audit log cannot be read: {exc}")
        return
    if not entries:
        st.caption("Nothing yet: loads, training, champion changes and user changes land here.")
        return
    st.caption(
        "Who loaded data, queued training, changed the champion or managed users, newest "
        "first (the latest 100 entries; `python -m core audit` shows more)."
    )
    st.dataframe(audit_table(entries), hide_index=True, key="audit_log")


def admin_section() -> None:
    """Services, loading another file, the load history and the audit log (admins)."""
    with st.expander("Admin: services, data loads and the audit log"):
        services()
        if not status.empty:
            st.markdown("**Load another data file**")
            replace = st.checkbox(
                "Replace the whole data set (otherwise clients are added or updated by id)",
                key="upload_replace",
            )
            upload_form(replace=replace)
        if history:
            st.markdown("**Load history**")
            st.dataframe(load_history_table(history), hide_index=True, key="load_history")
        if current().may("view_audit"):
            audit_log()


st.title("Credit default dashboard")
st.caption(
    "How the portfolio and the model are doing: explore credit-card clients and their "
    "payment history, train models that predict default next month, and score clients."
)

if st.session_state.get("new_visit", True) or "visits" not in st.session_state:
    st.session_state["visits"] = count_visit(store())
visits = st.session_state["visits"]
actor = current()

try:
    status = data_status(engine())
    history = load_history(engine())
    overview = model_overview(engine())
    job = latest_job(engine())
    runs = portfolio_runs(engine())
    figures = None if status.empty else portfolio(engine(), cache=query_cache())
except DatabaseError as exc:
    stop_with(exc)

if status.empty:
    empty_database()
else:
    st.subheader("Portfolio")
    portfolio_panel(figures, actor)

card = overview.card if overview else None
stability = overview.stability if overview else None
model_column, job_column, stability_column = st.columns(3, border=True)
with model_column:
    champion_panel(card, actor)
with job_column:
    job_panel(job, actor)
with stability_column:
    stability_panel(stability, card, actor)
with st.container(border=True):
    portfolio_run_panel(runs, actor)


st.divider()
footer = (
    []
    if status.empty
    else [
        f"Data version {status.version}: {status.clients:,} clients and {status.payments:,} "
        f"payment rows; the latest load was **{status.source}** at "
        f"{formats.timestamp(status.loaded_at)}."
    ]
)
if visits.value is not None:
    footer.append(f"Visits: {visits.value:,}.")
st.caption(" ".join(footer) or "No data loaded yet.")
if visits.error:
    st.warning(f"The visit counter is unavailable: {visits.error}. Everything else works.")
if actor.may("load_data"):
    admin_section()
else:
    st.caption(f"Loading data and the service status: {needs('load_data')}")
