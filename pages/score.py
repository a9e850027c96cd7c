"""Score: one client through a form (and why), a file of clients, and monitoring."""

import shutil
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.auth import AccessDenied
from core.data.dataset import DOMAINS, DataError
from core.data.features import TYPICAL, client_features, typical_values
from core.db.engine import DatabaseError
from core.ml.registry import ArtifactError, VersionError, champion_or_latest, list_versions
from core.serving.files import (
    FileScores,
    FileTooLarge,
    read_results,
    results_folder,
    score_csv_file,
)
from core.serving.monitoring import KEY_FEATURES, monitoring
from core.serving.policy import expected_losses
from core.serving.schemas import DESCRIPTIONS, TITLES, InputError
from core.serving.scoring import (
    ExplanationMethod,
    explain,
    get_model,
    score,
)
from core.settings import SettingsError
from core.vocabulary import LABELS, ONE_MONTH_LATE_NOTE, STATUS_LABELS
from dashboard import decisions, scored_table
from dashboard.access import current, needs, show_refusal
from dashboard.components import engine, settings, stop_with
from dashboard.figures import scoring as figures
from dashboard.portfolio import section as portfolio_section
from dashboard.score_form import CLIENT_FIELDS, form_features, months_table
from dashboard.stability_panel import stability_section

TRAIN_PAGE = Path(__file__).resolve().parent / "train.py"
MONITOR_LIMITS = [1_000, 5_000, 20_000]
PREVIEW_ROWS = 200
HOW = {
    ExplanationMethod.SHAP: (
        "the model's average score is {:.1%}; the effects of all 23 features add up from "
        "there to this client's score"
    ),
    ExplanationMethod.OCCLUSION: (
        "each bar is how much higher (red) or lower (blue) the score is than it would be "
        "with that one feature at its typical value; a typical client scores {:.1%}"
    ),
}

st.title("Score clients")
st.caption(
    "Estimate the probability that a client defaults next month with a trained model, see "
    "which features push the score up or down, score a whole file, and watch recent scores."
)


def link_to_train() -> None:
    """A link to the Train page when the dashboard has one, else a pointer in words."""
    try:
        st.page_link(
            TRAIN_PAGE, label="Train a model on the Train page", icon=":material/model_training:"
        )
    except (StreamlitAPIException, KeyError):
        st.caption("Train one on the Train page (under Models in the menu).")


try:
    versions = list_versions(engine())
except DatabaseError as exc:
    stop_with(exc)

if not versions:
    st.info("No model has been trained yet, so there is nothing to score with.")
    link_to_train()
    st.stop()

names = {v.version: v for v in versions}
choice, cut = st.columns([2, 3])
version = choice.selectbox(
    "Model version",
    list(names),
    index=list(names).index(champion_or_latest(versions)),
    format_func=lambda v: names[v].label,
    key="score_version",
)
threshold, threshold_source = decisions.threshold_slider(cut, version)

try:
    get_model(engine(), version)
except (ArtifactError, VersionError, SettingsError) as exc:
    st.error(f"Model version {version} cannot be used: {exc}")
    st.stop()
except DatabaseError as exc:
    stop_with(exc)

one, batch, watch, whole = st.tabs(
    ["One client", "A file of clients", "Monitoring", "The whole portfolio"]
)


def fill(values: dict[str, int]) -> None:
    for name in CLIENT_FIELDS:
        st.session_state[f"score_{name}"] = values[name]
    st.session_state["score_months_data"] = months_table(values)
    # A new key gives a fresh editor: edits made to the old table do not carry over.
    st.session_state["score_months_rev"] = st.session_state.get("score_months_rev", 0) + 1


def fill_typical(note: bool = True) -> None:
    try:
        fill(typical_values(engine()))
    except DatabaseError as exc:
        fill(TYPICAL)
        st.session_state["score_fill_note"] = ("error", f"Typical values of the real data: {exc}")
        return
    if note:
        st.session_state["score_fill_note"] = ("info", "Filled in typical values.")


def fill_from_client() -> None:
    client_id = st.session_state.get("score_client_id")
    if client_id is None:
        st.session_state["score_fill_note"] = ("warning", "Enter a client id first.")
        return
    try:
        values = client_features(engine(), int(client_id))
    except DatabaseError as exc:
        st.session_state["score_fill_note"] = ("error", str(exc))
        return
    if values is None:
        st.session_state["score_fill_note"] = ("warning", f"No client has id {client_id}.")
        return
    fill(values)
    st.session_state["score_fill_note"] = ("info", f"Filled in client {client_id}.")


def client_form() -> None:
    if "score_months_data" not in st.session_state or "score_AGE" not in st.session_state:
        fill_typical(note=False)
    left, middle, right = st.columns([2, 1, 1], vertical_alignment="bottom")
    left.number_input(
        "Start from a client in the data (id)",
        min_value=1,
        step=1,
        value=None,
        key="score_client_id",
    )
    middle.button("Fill from client", key="score_fill_client", on_click=fill_from_client)
    right.button("Typical values", key="score_fill_typical", on_click=fill_typical)
    kind, text = st.session_state.pop("score_fill_note", (None, None))
    if kind:
        getattr(st, kind)(text)

    with st.form("score_form"):
        st.markdown("**The client**")
        columns = st.columns(5)
        for column, name in zip(columns[:3], ["SEX", "EDUCATION", "MARRIAGE"], strict=True):
            column.selectbox(
                TITLES[name],
                list(LABELS[name]),
                format_func=LABELS[name].get,
                key=f"score_{name}",
            )
        columns[3].number_input(
            "Age (years)",
            min_value=DOMAINS["AGE"][0],
            max_value=DOMAINS["AGE"][1],
            step=1,
            key="score_AGE",
        )
        columns[4].number_input(
            "Credit limit (NT$)",
            min_value=DOMAINS["LIMIT_BAL"][0],
            max_value=DOMAINS["LIMIT_BAL"][1],
            step=10_000,
            key="score_LIMIT_BAL",
        )
        st.markdown("**The last six months** (latest first)")
        table = st.data_editor(
            st.session_state["score_months_data"],
            key=f"score_months_{st.session_state['score_months_rev']}",
            hide_index=True,
            num_rows="fixed",
            width="stretch",
            column_config=months_columns(),
        )
        allowed = current().may("score")
        submitted = st.form_submit_button(
            "Score", key="score_submit", type="primary", disabled=not allowed
        )
        if not allowed:
            st.caption(needs("score"))
    if submitted:
        client = {name: st.session_state[f"score_{name}"] for name in CLIENT_FIELDS}
        run_score(form_features(client, table))


def months_columns() -> dict:
    low, high = DOMAINS["BILL_AMT1"]
    return {
        "Month": st.column_config.TextColumn("Month", disabled=True),
        "Status": st.column_config.SelectboxColumn(
            "Repayment status",
            options=list(STATUS_LABELS),
            format_func=STATUS_LABELS.get,
            required=True,
            help=f"{DESCRIPTIONS['PAY_1'].split(' in ')[0]}. {ONE_MONTH_LATE_NOTE}",
        ),
        "Bill": st.column_config.NumberColumn(
            "Bill (NT$)",
            min_value=low,
            max_value=high,
            step=1,
            format="%d",
            required=True,
            help="Bill statement amount; negative is a credit balance",
        ),
        "Paid": st.column_config.NumberColumn(
            "Amount paid (NT$)",
            min_value=0,
            max_value=DOMAINS["PAY_AMT1"][1],
            step=1,
            format="%d",
            required=True,
        ),
    }


def run_score(features: dict) -> None:
    try:
        actor = current()
        result = score(
            engine(), features, version=version, threshold=threshold, source="form", actor=actor
        )
        why = explain(engine(), features, version=version, actor=actor)
    except InputError as exc:
        st.session_state.pop("score_result", None)
        st.error("The client cannot be scored:\n\n" + "\n".join(f"- {p}" for p in exc.problems))
        return
    except AccessDenied as exc:
        show_refusal(exc)
        return
    except (DatabaseError, ArtifactError, SettingsError) as exc:
        st.error(f"Nothing was scored: {exc}")
        return
    st.session_state["score_result"] = (result, why)


def warn_if_miscalibrated(used: str) -> None:
    """The warning of the version that gave the probabilities shown, when it is
    miscalibrated; its loaded model holds it, so nothing is read."""
    try:
        warning = get_model(engine(), used).warning
    except (ArtifactError, VersionError, SettingsError, DatabaseError):
        return  # the version's problem is shown where it is chosen
    if warning:
        st.warning(f"Model version {used}: {warning}")


def show_result() -> None:
    if "score_result" not in st.session_state:
        st.caption("Fill in the client and press Score.")
        return
    result, why = st.session_state["score_result"]
    result = result.relabel(threshold)
    st.subheader("Result")
    first, second, third = st.columns(3)
    first.metric("Probability of default", f"{result.probability:.1%}")
    second.metric(f"Prediction at threshold {threshold:.2f}", result.label_text)
    third.metric("Model version", result.version)
    warn_if_miscalibrated(result.version)
    chart, reasons = st.columns([2, 3])
    chart.plotly_chart(figures.gauge(result.probability, threshold), key="score_gauge")
    reasons.plotly_chart(figures.explanation_bars(why.effects), key="score_explanation")
    reasons.caption(f"Method: {why.method.value}: {HOW[why.method].format(why.baseline)}.")
    decisions.show_reasons(st, why)


def batch_tab() -> None:
    limit = settings().scoring_upload_mb
    st.markdown(
        "Upload a CSV of clients with the data set's columns (any of the loader's headers; "
        "`ID` and `default` are optional), up to "
        f"{limit:,} MB. Every row is checked first: a file with problems is not scored at all."
    )
    allowed = current().may("score")
    upload = st.file_uploader(
        "Clients (CSV)",
        type=["csv"],
        max_upload_size=limit,
        key="score_upload",
        disabled=not allowed,
    )
    if not allowed:
        st.caption(needs("score"))
    if st.button(
        "Score file",
        key="score_batch_run",
        disabled=upload is None or not allowed,
        type="primary",
    ):
        score_upload(upload, limit)
    if "score_batch" in st.session_state:
        show_batch(*st.session_state["score_batch"])


def score_upload(upload, limit: int) -> None:
    """Score the uploaded file in chunks into a file of this session's; keep its summary."""
    forget_batch()
    folder = results_folder()
    bar = st.progress(0.0, text="Checking the file...")

    def progress(done: int, total: int, stage: str) -> None:
        bar.progress(min(done / total, 1.0), text=f"{stage.capitalize()} the file...")

    try:
        scores = score_csv_file(
            engine(),
            upload,  # read from Streamlit's copy in chunks, never copied whole
            folder / "scored.csv",
            version=version,
            threshold=threshold,
            limit_mb=limit,
            progress=progress,
            reasons=True,
            actor=current(),
        )
    except AccessDenied as exc:
        show_refusal(exc)
    except FileTooLarge as exc:
        st.error(f"Nothing was scored: {exc}.")
    except DataError as exc:
        st.error("Nothing was scored: the file has problems.\n\n" + bullets(exc))
    except (DatabaseError, ArtifactError, SettingsError) as exc:
        st.error(f"Nothing was scored: {exc}")
    else:
        st.session_state["score_batch"] = (upload.name, scores)
    finally:
        bar.empty()
    if "score_batch" not in st.session_state:
        shutil.rmtree(folder, ignore_errors=True)


def forget_batch() -> None:
    """Drop the last scored file of this session, and its results on disk."""
    previous = st.session_state.pop("score_batch", None)
    if previous is not None:
        shutil.rmtree(previous[1].path.parent, ignore_errors=True)


def bullets(exc: DataError) -> str:
    lines = [f"- {p}" for p in exc.problems]
    if exc.total > len(exc.problems):
        lines.append(f"- ... and {exc.total - len(exc.problems)} more")
    return "\n".join(lines)


def show_batch(name: str, scores: FileScores) -> None:
    if not scores.path.is_file():
        st.session_state.pop("score_batch", None)
        st.info("The results of the last file are gone (the server restarted): score it again.")
        return
    first, second, third = st.columns(3)
    first.metric("Clients scored", f"{scores.rows:,}")
    predicted = scores.predicted_at(threshold)
    second.metric(f"Predicted to default at {threshold:.2f}", f"{predicted:,}")
    third.metric("Mean probability", f"{scores.mean_probability:.1%}")
    st.caption(
        f"{name}, scored with model version {scores.version} at threshold "
        f"{scores.threshold:.2f} ({scores.threshold_source}); reasons in reason_1..reason_4."
    )
    warn_if_miscalibrated(scores.version)
    st.plotly_chart(figures.probability_bars(scores.histogram, threshold), key="score_histogram")
    if threshold != scores.threshold:
        st.info(
            f"The file's labels are at threshold {scores.threshold:.2f}, the one it was scored "
            f"with; press Score file again for labels at {threshold:.2f}."
        )
    path = scores.path
    st.download_button(
        "Download the results (CSV)",
        data=lambda: path.open("rb"),  # served from disk when clicked
        file_name=f"{Path(name).stem}-scored.csv",
        mime="text/csv",
        on_click="ignore",
        key="score_download",
    )
    st.caption(
        f"The first {min(scores.rows, PREVIEW_ROWS):,} results (the CSV keeps the file's "
        "columns, then probability, label and reason_1..reason_4):"
    )
    try:
        results = read_results(path, PREVIEW_ROWS)
        losses = expected_losses(engine(), scores.version, results)
    except DatabaseError as exc:
        st.error(f"The results cannot be shown: {exc}")
        return
    st.dataframe(
        scored_table.results_table(results, losses),
        hide_index=True,
        key="score_results",
        column_config=scored_table.results_columns(scores.threshold),
    )


def monitoring_tab() -> None:
    limit = st.selectbox(
        "Recent scores to compare",
        MONITOR_LIMITS,
        index=1,
        format_func="{:,}".format,
        key="score_monitor_limit",
    )
    try:
        watched = monitoring(engine(), version, limit=limit)
    except DatabaseError as exc:
        st.error(f"Monitoring is not available: {exc}")
        return
    if watched.recent.empty:
        st.info(
            f"No scores of model version {version} are logged yet. Every score made here, "
            "from a file or by the CLI is logged; score some clients and come back."
        )
        return
    stability_section(engine(), version, limit, get_model(engine(), version).evaluation)
    st.subheader("Distributions")
    st.caption(
        f"The newest {len(watched.recent):,} scores of version {version} against its "
        f"training reference ({watched.reference.source}). KS distance: 0 means the same "
        "distribution, 1 completely different."
    )
    drift = watched.drift.set_index("name")["ks_distance"]
    st.plotly_chart(
        figures.compare_distributions(
            watched.recent["probability"],
            watched.reference.probabilities,
            f"Probability of default (KS distance {format_distance(drift['probability'])})",
            unit_range=[0, 1],
        ),
        key="score_monitor_probability",
    )
    columns = st.columns(2)
    for i, name in enumerate(KEY_FEATURES):
        columns[i % 2].plotly_chart(
            figures.compare_distributions(
                watched.recent[name],
                watched.reference.features[name],
                f"{TITLES[name]} (KS distance {format_distance(drift[name])})",
            ),
            key=f"score_monitor_{name}",
        )


def format_distance(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.2f}"


with one:
    client_form()
    show_result()
with batch:
    batch_tab()
with watch:
    monitoring_tab()
with whole:
    portfolio_section(version, threshold)
