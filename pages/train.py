"""Train: queue a training job, watch its leaderboard fill, see past jobs and the data."""

from pathlib import Path

import streamlit as st

from core import jobs
from core.auth import AccessDenied
from core.data.features import training_csv, training_frame
from core.data.status import data_status, data_version
from core.db.engine import DatabaseError
from core.ml.leaderboard import best_on, job_board
from core.ml.params import (
    CALIBRATION_METHODS,
    DEFAULT_CALIBRATION_WITH_IMBALANCE_FIX,
    DEFAULT_FOLDS,
    MAX_FOLDS,
    MIN_FOLDS,
    MIN_SAMPLE,
    MODELS,
    NO_CALIBRATION,
    TURBO,
    TrainingError,
)
from core.settings import get_settings
from core.vocabulary import METRICS, PROTECTED
from dashboard import formats, training
from dashboard.access import current, needs, verified
from dashboard.components import engine, stop_with, stop_without_clients
from dashboard.figures import as_arrow
from dashboard.figures import models as figures

LEADERBOARDS_PAGE = Path(__file__).resolve().parent / "leaderboards.py"
CALIBRATIONS = (NO_CALIBRATION, *CALIBRATION_METHODS)
WORDS = {"SEX": "sex", "AGE": "age", "MARRIAGE": "marital status"}
POLL_SECONDS = 2
PREVIEW_ROWS = 100

st.title("Train models")
st.caption(
    "Cross-validate PyCaret's classification models on the loaded clients and keep the "
    "best one as a new, immutable model version. Training runs in the background: keep "
    "exploring, this page follows the job."
)

runner = jobs.runner_for(get_settings())
try:
    status = data_status(engine())
    suggested = jobs.suggest_version(engine())
    runner_state = runner.status(engine())
except (DatabaseError, jobs.JobError) as exc:
    stop_with(exc)

if not runner_state.ok:
    st.warning(f"Training is not available right now: {runner_state.text}")
else:
    st.caption(f"Runner: {runner_state.text}.")


def chosen_params() -> dict:
    """The job the form's widgets describe, as core.jobs.submit takes it."""
    return dict(
        folds=st.session_state["train_folds"],
        version=f"{st.session_state['train_version']:.1f}",
        models=st.session_state["train_models"],
        metric=st.session_state["train_metric"],
        sample_size=st.session_state["train_sample"] or None,
        fix_imbalance=st.session_state["train_imbalance"],
        calibrate=st.session_state["train_calibrate"],
        leave_out_protected=st.session_state["train_protected"],
    )


def follow_imbalance() -> None:
    """Ticking "fix class imbalance" turns calibration on (resampling inflates the
    probabilities); unticking it turns calibration off. Either can be changed after."""
    fixing = st.session_state["train_imbalance"]
    default = DEFAULT_CALIBRATION_WITH_IMBALANCE_FIX if fixing else NO_CALIBRATION
    st.session_state["train_calibrate"] = default


def queue_job() -> None:
    """The Train button's callback: queue the job; a refusal is shown on the next run only."""
    try:
        st.session_state["train_job"] = jobs.submit(
            engine(), chosen_params(), runner, actor=verified()
        )
    except AccessDenied as exc:
        st.session_state["train_problem"] = [f"{exc}."]
    except TrainingError as exc:
        st.session_state["train_problem"] = exc.problems
    except (jobs.JobError, DatabaseError) as exc:
        st.session_state["train_problem"] = [str(exc)]


def follow_suggestion() -> None:
    """Offer the suggested version; move the slider on when the suggestion moves on (a job
    took the version), unless the person chose another version by hand."""
    offered = st.session_state.get("train_offered")
    if "train_version" not in st.session_state or (
        offered != suggested and f"{st.session_state['train_version']:.1f}" == offered
    ):
        st.session_state["train_version"] = float(suggested)
    st.session_state["train_offered"] = suggested


def settings_form() -> None:
    folds_column, version_column = st.columns(2)
    folds_column.slider(
        "Cross-validation folds",
        MIN_FOLDS,
        MAX_FOLDS,
        DEFAULT_FOLDS,
        key="train_folds",
        help="More folds give steadier scores and take longer.",
    )
    follow_suggestion()
    top = max(10.0, float(suggested) + 5.0)
    version_column.slider(
        "Model version",
        0.1,
        top,
        step=0.1,
        format="%.1f",
        key="train_version",
        help="Versions are immutable: a used version is refused.",
    )
    st.multiselect(
        "Models",
        list(MODELS),
        default=TURBO,
        format_func=lambda m: f"{MODELS[m]} ({m})",
        key="train_models",
        help="The default is PyCaret's turbo set (all but the slow rbfsvm, gpc and mlp). "
        "Ridge and linear SVM give no probabilities: they are compared, never kept.",
    )
    metric_column, sample_column, fix_column = st.columns(3)
    metric_column.selectbox(
        "Pick the best model by",
        METRICS,
        key="train_metric",
        help="AUC ranks clients by risk regardless of threshold. Accuracy misleads when "
        "about 22% default: a model that never predicts default scores 78%.",
    )
    sample_column.number_input(
        "Training sample (clients; 0 = all)",
        min_value=0,
        max_value=max(status.clients, MIN_SAMPLE),
        value=0,
        step=500,
        key="train_sample",
        help=f"Train on a random sample for a quick look (at least {MIN_SAMPLE:,}).",
    )
    fix_column.checkbox(
        "Fix class imbalance",
        key="train_imbalance",
        help="Oversample the defaulters (SMOTE) in the training folds.",
        on_change=follow_imbalance,
    )
    trust_options()
    try:
        blocked = jobs.problems(engine(), chosen_params())
    except DatabaseError as exc:
        blocked = [str(exc)]
    for problem in blocked:
        st.error(f"Cannot train: {problem}")
    allowed = current().may("train")
    st.button(
        "Train",
        key="train_submit",
        type="primary",
        disabled=bool(blocked) or not allowed,
        on_click=queue_job,
    )
    if not allowed:
        st.caption(needs("train"))
    for problem in st.session_state.pop("train_problem", []):
        st.error(f"The job was not started: {problem}")


def trust_options() -> None:
    """Calibration and the protected attributes: what makes the probabilities trustworthy."""
    calibrate_column, protected_column = st.columns(2)
    st.session_state.setdefault("train_calibrate", NO_CALIBRATION)
    calibrate_column.selectbox(
        "Calibrate probabilities",
        CALIBRATIONS,
        key="train_calibrate",
        help="Isotonic: a monotone step map, needs a few thousand clients. Sigmoid (Platt): "
        "a smooth S-curve, steadier on small samples.",
    )
    calibrate_column.caption(
        "Maps the kept model's scores to observed default rates, learnt on held-out folds; "
        "on (isotonic) by default when class imbalance is fixed, since resampling inflates "
        "probabilities."
    )
    protected = ", ".join(WORDS[name] for name in PROTECTED)
    protected_column.checkbox(
        "Leave out protected attributes",
        key="train_protected",
        help=f"Train without {protected}, to see what they add to AUC beside a version that "
        "uses them. Fairness by group is still computed for every attribute.",
    )
    protected_column.caption(f"The models never see {protected}.")


def cancel_job(job_id: str) -> None:
    """The Cancel button's callback: the job stops after its current model."""
    try:
        jobs.cancel(engine(), job_id, actor=verified())
    except (AccessDenied, DatabaseError) as exc:
        st.session_state["train_cancel_problem"] = f"The job could not be cancelled: {exc}"
    else:
        st.session_state.pop("train_cancel_problem", None)


def show_job(job: jobs.Job) -> None:
    st.subheader(f"Job for version {job.version}: {formats.marked(job.state)}")
    done, total = job.models_done, job.models_total
    state, progress, elapsed = st.columns(3)
    state.metric("State", job.state)
    progress.metric("Models done", f"{done} of {total}")
    elapsed.metric("Elapsed", training.duration(job.seconds))
    if job.active:  # the step in the bar's text, where a long model name has room
        text = f"{training.step(job)}: {done} of {total} models done"
        st.progress(done / total if total else 0.0, text=text)
        if job.cancel_requested:
            st.caption("Cancelling: the job stops after the current model.")
        else:
            st.button(
                "Cancel",
                key="train_cancel",
                on_click=cancel_job,
                args=(job.id,),
                disabled=not current().may("train"),
            )
        if st.session_state.get("train_cancel_problem"):
            st.error(st.session_state["train_cancel_problem"])
    if job.state == "finished":
        st.success(
            f"Version {job.version} saved: {job.best_model_name} "
            f"({job.metric} {job.best_score:.4f}), trained on {job.rows:,} clients."
        )
        st.page_link(
            LEADERBOARDS_PAGE,
            label="Compare it on the Leaderboards page",
            icon=":material/leaderboard:",
        )
    elif job.error:
        st.error(f"The job {job.state}: {job.error}")
    elif job.state == "cancelled":
        st.warning("The job was cancelled; no version was saved.")
    if job.note:
        st.info(job.note)
    st.caption(job_options(job))
    for row in job.leaderboard:
        if row.state == "failed":
            st.caption(f"{row.model_name} failed and is left out: {row.error}")
    board = job_board(job)
    done_rows = best_on(board[board["State"] == "done"], job.metric)
    if done_rows.empty:
        st.caption("The leaderboard fills as each model finishes.")
        return
    chart, table = st.columns([3, 2])
    chart.plotly_chart(figures.models_on_metric(done_rows, job.metric), key="train_board_chart")
    table.dataframe(
        as_arrow(done_rows[["Model", *METRICS, "TT (Sec)"]]),
        hide_index=True,
        key="train_board",
        column_config={m: st.column_config.NumberColumn(format="%.4f") for m in METRICS},
    )


def job_options(job: jobs.Job) -> str:
    """The job's imbalance, calibration and protected-attribute options in words."""
    imbalance = "imbalance fixed (SMOTE)" if job.fix_imbalance else "imbalance not fixed"
    calibration = "not calibrated" if job.calibrate == NO_CALIBRATION else job.calibrate
    protected = "left out" if job.leave_out_protected else "used"
    return (
        f"Options: {imbalance}; probabilities {calibration}"
        f"{' calibration' if job.calibrate != NO_CALIBRATION else ''}; "
        f"protected attributes {protected}."
    )


def progress_panel(following: jobs.Following) -> None:
    """The shown job and the job history, read together at each poll so that they agree.
    The page's run shows `following`, read after its upkeep; each poll tends and reads
    afresh."""
    job_id = None if following.job is None else following.job.id
    was_active = following.job is not None and following.job.active
    first = [following]  # this run's read, taken by the panel's first (whole-page) run

    @st.fragment(run_every=POLL_SECONDS if was_active else None)
    def panel() -> None:
        try:
            # A poll reruns only this fragment, not the shell: check the session here too.
            still_allowed = verified().may("train")
        except AccessDenied:
            still_allowed = False
        except DatabaseError:
            still_allowed = True  # the read below says what is wrong
        if not still_allowed:
            st.rerun()  # the whole app: the shell asks for the login or refuses the page
        try:
            now = first.pop() if first else read_jobs(job_id, required=True)
        except (DatabaseError, jobs.JobError) as exc:
            st.error(f"The job's progress cannot be read: {exc}")
            return
        job, history = now.job, now.history
        if job is not None:
            show_job(job)
            history = training.with_latest(history, job)
        show_history(history)
        if was_active and job is not None and not job.active:
            st.rerun()  # the versions and the suggested version moved on

    panel()


def read_jobs(job_id: str | None, required: bool = False) -> jobs.Following:
    """Upkeep, then the job to show and the history in one read. Upkeep once per run and
    per poll, before the job is read: a dead worker's job ends (failed), a job waiting for
    the local worker starts it. With `required`, a job that vanished is a JobError."""
    jobs.tend(engine(), runner)
    following = jobs.follow(engine(), job_id)
    if required and job_id is not None and following.job is None:
        raise jobs.JobError(f"no training job {job_id}")
    return following


def show_history(history: list[jobs.Job]) -> None:
    st.subheader("Job history")
    if history:
        st.dataframe(
            as_arrow(training.history_table(history)), hide_index=True, key="train_history"
        )
    else:
        st.caption("No training job yet.")


@st.cache_data(max_entries=2, show_spinner=False)
def preview(url: str, version: int):
    return training_frame(engine(), limit=PREVIEW_ROWS)


@st.cache_data(max_entries=1, show_spinner="Preparing the CSV...")
def csv_bytes(url: str, version: int) -> bytes:
    return training_csv(engine())


def training_data() -> None:
    """The frame the models learn from, its first rows and a CSV of it: read and drawn only
    while its expander is open."""
    shown = st.expander(
        f"Training data: {status.clients:,} clients, 23 features and `default`",
        key="train_data_open",
        on_change="rerun",
    )
    if not shown.open:
        return
    with shown:
        try:
            version = data_version(engine())
            rows = preview(engine().url.render_as_string(), version)
        except DatabaseError as exc:
            st.error(f"The training data cannot be read: {exc}")
            return
        st.caption(
            "Clients joined with their six months of payments pivoted back into columns: "
            f"the frame the models learn from. First {PREVIEW_ROWS} rows:"
        )
        st.dataframe(as_arrow(rows), hide_index=True, key="train_preview")
        url = engine().url.render_as_string()
        st.download_button(
            "Download all rows (CSV)",
            data=lambda: csv_bytes(url, version),
            file_name=f"training-data-v{version}.csv",
            mime="text/csv",
            key="train_download",
        )


stop_without_clients(status)

settings_form()

try:
    # The job this session submitted; else (a reload, another browser) the running job,
    # else the newest.
    following = read_jobs(st.session_state.get("train_job"))
except (DatabaseError, jobs.JobError) as exc:
    stop_with(exc)
progress_panel(following)

training_data()
