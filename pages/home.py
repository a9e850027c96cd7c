"""Home: what is loaded, the visit counter, whether Postgres and Redis answer, loading data
(admins) and the audit log (admins)."""

import streamlit as st

from core.auth import AccessDenied, recent
from core.cache import count_visit, redis_status
from core.data.dataset import DataError
from core.data.publish import publish_file
from core.data.status import data_status, database_label, load_history
from core.db.engine import DatabaseError
from dashboard.access import audit_table, current, needs, show_refusal
from dashboard.components import ProgressBar, engine, load_history_table, stop_with, store

st.title("Credit default dashboard")
st.caption(
    "Explore credit-card clients and their payment history, train models that predict "
    "default next month, and score clients."
)

if st.session_state.get("new_visit", True) or "visits" not in st.session_state:
    st.session_state["visits"] = count_visit(store())
visits = st.session_state["visits"]

try:
    status = data_status(engine())
    history = load_history(engine())
except DatabaseError as exc:
    stop_with(exc)

clients, payments, counter = st.columns(3)
clients.metric("Clients", f"{status.clients:,}")
payments.metric("Payment rows", f"{status.payments:,}")
counter.metric("Visits", "unavailable" if visits.value is None else f"{visits.value:,}")
if visits.error:
    st.warning(f"The visit counter is unavailable: {visits.error}. Everything else works.")

if not status.empty:
    st.caption(
        f"Data version {status.version}: the latest load was **{status.source}** at "
        f"{status.loaded_at:%Y-%m-%d %H:%M} UTC. Every load is listed under Load history."
    )

st.subheader("Services")
database_column, cache_column = st.columns(2)
database_column.success(f"Database: {database_label(engine())} answers")
cache_ok, cache_text = redis_status(store())
(cache_column.success if cache_ok else cache_column.warning)(f"Cache: {cache_text}")


actor = current()


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
                actor=actor,
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


if not actor.may("load_data"):
    if status.empty:
        st.info("The database has no clients yet: an admin loads the data set.")
    st.caption(needs("load_data"))
elif status.empty:
    st.info(
        "The database has no clients yet. Load the credit data set with "
        "`python -m core load --csv PATH` (`make run` does it for you), or upload a file "
        "below. Accepted headers: PyCaret's (`PAY_1`..`PAY_6`, `default`), the UCI original "
        "(`ID`, `PAY_0`, `default payment next month`), `default.payment.next.month`, "
        "or `X1`..`X23` and `Y`."
    )
    upload_form(replace=False)
else:
    with st.expander("Load another data file"):
        replace = st.checkbox(
            "Replace the whole data set (otherwise clients are added or updated by id)",
            key="upload_replace",
        )
        upload_form(replace=replace)

if history:
    st.subheader("Load history")
    st.dataframe(load_history_table(history), hide_index=True, key="load_history")

if actor.may("view_audit"):
    st.subheader("Audit log")
    try:
        entries = recent(engine())
    except DatabaseError as exc:
        st.error(f"The audit log cannot be read: {exc}")
    else:
        if entries:
            st.caption(
                "Who loaded data, queued training, changed the champion or managed users, "
                "newest first (the latest 100 entries; `python -m core audit` shows more)."
            )
            st.dataframe(audit_table(entries), hide_index=True, key="audit_log")
        else:
            st.caption("Nothing yet: loads, training, champion changes and user changes land here.")
