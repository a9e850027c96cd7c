"""Scoring files in chunks (core.serving.files): the same results as scoring the whole file
in memory, problems named by the file's line however deep, nothing written from a bad file,
the size limit, and a 1,000,000-row file through the CLI under 500 MB (on Postgres)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from core.data.dataset import DataError
from core.data.synthetic import synthetic
from core.db.engine import migrate
from core.serving.files import (
    BINS,
    MB,
    FileTooLarge,
    check_size,
    read_results,
    results_folder,
    score_csv_file,
)
from core.serving.predictions import recent_scores
from core.serving.reasons import COLUMNS as REASON_COLUMNS
from core.serving.scoring import score_file
from core.vocabulary import ID, TARGET
from tests.cli_support import ROOT, run_cli
from tests.conftest import fresh_postgres, postgres_url
from tests.trained import real_frame, register


def clients_csv(rows: pd.DataFrame, **to_csv) -> bytes:
    return rows.to_csv(index=False, **to_csv).encode()


def counts(probabilities: np.ndarray) -> np.ndarray:
    """The summary's bins counted directly: [k/100, (k+1)/100), and one for exactly 1 (a
    model's probabilities do not sit on an edge, where floor and `>=` k/100 could differ)."""
    bins = np.minimum(np.floor(np.asarray(probabilities) * BINS), BINS).astype(int)
    return np.bincount(bins, minlength=BINS + 1)


def assert_same_results(streamed: pd.DataFrame, whole: pd.DataFrame) -> None:
    """Every column exactly equal, probabilities to the last bits: scikit-learn's
    predict_proba goes through BLAS, whose sums can differ in the last bit or two with the
    number of rows in one call (a file in 10-row chunks or all at once), never more."""
    pd.testing.assert_frame_equal(
        streamed.drop(columns="probability"), whole.drop(columns="probability"), check_exact=True
    )
    np.testing.assert_array_max_ulp(streamed["probability"], whole["probability"], maxulp=4)


CASES = {
    # no ID column (ids 1..N across chunks), the UCI header's PAY_0, a target, CRLF endings
    "no ids, CRLF": lambda rows: clients_csv(
        rows.drop(columns=[ID]).rename(columns={"PAY_1": "PAY_0"}), lineterminator="\r\n"
    ),
    # the file's own ids, no target, and blank lines between chunks' rows
    "ids, blank lines": lambda rows: clients_csv(rows.drop(columns=[TARGET])).replace(
        b"\n", b"\n\n", 7
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_streamed_results_equal_scoring_the_whole_file(engine, tmp_path, case):
    register(engine, "1.0")
    data = CASES[case](real_frame().iloc[:57])
    expected = score_file(engine, data, version="1.0", threshold=0.3, source=None)
    out = tmp_path / "scored.csv"

    scores = score_csv_file(
        engine,
        io.BytesIO(data),
        out,
        version="1.0",
        threshold=0.3,
        log_source="batch",
        chunk_rows=10,
    )

    assert_same_results(read_results(out), expected)
    probabilities = expected["probability"].to_numpy()
    assert scores.rows == 57 and scores.version == "1.0" and scores.path == out
    assert scores.predicted == int(expected["label"].sum())
    assert scores.mean_probability == pytest.approx(probabilities.mean(), rel=1e-12)
    np.testing.assert_array_equal(scores.histogram, counts(probabilities))
    for threshold in (0.0, 0.2, 0.3, 0.55, 1.0):
        assert scores.predicted_at(threshold) == int((probabilities >= threshold).sum())
    log = recent_scores(engine)
    assert len(log) == 57 and set(log["source"]) == {"batch"}


def test_a_bad_row_deep_in_the_file_is_named_and_nothing_is_written(engine, tmp_path):
    register(engine, "1.0")
    rows = synthetic(1_000).drop(columns=[TARGET]).astype(object)
    rows.loc[899, "AGE"] = "abc"  # row 900: line 901, in the tenth chunk of 100
    rows.loc[950, "SEX"] = 3
    folder = tmp_path / "files"
    folder.mkdir()
    source, out = folder / "clients.csv", folder / "scored.csv"
    source.write_bytes(clients_csv(rows))

    with pytest.raises(DataError) as raised:
        score_csv_file(engine, source, out, version="1.0", chunk_rows=100)

    assert [str(p) for p in raised.value.problems] == [
        "line 901, column AGE: 'abc' is not a number",
        "line 952, column SEX: 3 is outside 1..2",
    ]
    assert list(folder.iterdir()) == [source]  # no output, no temporary file left
    assert recent_scores(engine).empty


def test_an_id_repeated_in_another_chunk_is_named_with_both_lines(engine, tmp_path):
    register(engine, "1.0")
    rows = real_frame().iloc[:30].copy()
    rows.loc[rows.index[24], ID] = rows.loc[rows.index[4], ID]
    out = tmp_path / "scored.csv"
    with pytest.raises(DataError) as raised:
        score_csv_file(engine, io.BytesIO(clients_csv(rows)), out, version="1.0", chunk_rows=10)
    first_id = rows.loc[rows.index[4], ID]
    assert [str(p) for p in raised.value.problems] == [
        f"line 26, column ID: id {first_id} already appears on line 6"
    ]
    assert not out.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"SEX,AGE,colour\n1,30,red\n", "line 1: header not recognised; missing columns"),
        (",".join(real_frame().columns).encode() + b"\n\n", "the file has a header but no data"),
    ],
)
def test_unusable_files_say_why_once(engine, tmp_path, data, message):
    register(engine, "1.0")
    with pytest.raises(DataError) as raised:
        score_csv_file(engine, io.BytesIO(data), tmp_path / "out.csv", chunk_rows=1)
    assert len(raised.value.problems) == 1 and str(raised.value).startswith(message)


def test_a_new_results_folder_sweeps_the_old_ones(tmp_path):
    old, recent, other = (
        tmp_path / name for name in ("credit-scores-old", "credit-scores-new", "x")
    )
    for folder in (old, recent, other):
        folder.mkdir()
        (folder / "scored.csv").write_text("ID\n1\n")
    two_days_ago = time.time() - 2 * 24 * 3600
    for folder in (old, other):
        os.utime(folder, (two_days_ago, two_days_ago))

    made = results_folder(tmp_path)

    assert made.parent == tmp_path and made.name.startswith("credit-scores-") and made.is_dir()
    assert not old.exists() and recent.exists() and other.exists()


def test_the_size_limit_is_named():
    check_size(2 * MB, 2)
    check_size(10**12, None)
    with pytest.raises(FileTooLarge) as raised:
        check_size(2 * MB + 1, 2)
    assert str(raised.value) == (
        "the file is 2.0 MB, more than the limit of 2 MB (setting SCORING_UPLOAD_MB)"
    )


def test_the_cli_refuses_a_file_above_the_setting(tmp_path):
    source = tmp_path / "clients.csv"
    synthetic(12_000).drop(columns=[TARGET]).to_csv(source, index=False)  # about 1.2 MB
    done = run_cli(
        "score",
        "--csv",
        str(source),
        "--out",
        str(tmp_path / "out.csv"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}",
        SCORING_UPLOAD_MB="1",
    )
    assert done.returncode == 1, done.stderr
    assert "more than the limit of 1 MB (setting SCORING_UPLOAD_MB)" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.csv").exists()


def test_the_cli_streams_to_stdout_and_names_a_deep_bad_row(engine, tmp_path):
    register(engine, "1.0")
    url = engine.url.render_as_string(hide_password=False)
    rows = real_frame().iloc[:40]
    source = tmp_path / "clients.csv"
    source.write_bytes(clients_csv(rows))
    done = run_cli("score", "--csv", str(source), "--version", "1.0", DATABASE_URL=url)
    assert done.returncode == 0, done.stderr
    shown = pd.read_csv(io.StringIO(done.stdout), float_precision="round_trip")
    expected = score_file(engine, source.read_bytes(), version="1.0", source=None)
    assert list(shown.columns[-len(REASON_COLUMNS) :]) == REASON_COLUMNS  # reasons by default
    assert_same_results(shown.drop(columns=REASON_COLUMNS), expected)

    bad = rows.astype(object)
    bad.loc[bad.index[37], "LIMIT_BAL"] = "9" * 5_000
    source.write_bytes(clients_csv(bad))
    out = tmp_path / "scored.csv"
    done = run_cli("score", "--csv", str(source), "--out", str(out), DATABASE_URL=url)
    assert done.returncode == 1 and "line 39, column LIMIT_BAL" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


# Peak memory of a child process, measured by a wrapper that waits for it alone.
PEAK_RSS = (
    "import resource, subprocess, sys;"
    "done = subprocess.run(sys.argv[1:]);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
    "sys.exit(done.returncode)"
)


@pytest.fixture
def postgres_engine():
    """The emptied, migrated test Postgres: the million-row file runs where deployments
    score at scale (once, not on both databases, to keep the suite short)."""
    engine = fresh_postgres(postgres_url())
    migrate(engine)
    yield engine
    engine.dispose()


def test_a_million_rows_are_scored_in_under_500_mb(postgres_engine, tmp_path):
    engine = postgres_engine
    register(engine, "1.0")
    source, out = tmp_path / "clients.csv", tmp_path / "scored.csv"
    synthetic(1_000_000).drop(columns=[TARGET]).to_csv(source, index=False)
    url = engine.url.render_as_string(hide_password=False)
    # With the reason columns the CLI writes by default.
    command = ["-m", "core", "score", "--csv", str(source), "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, sys.executable, *command, "--version", "1.0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "SCORING_UPLOAD_MB": "200"},
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "scored 1,000,000 clients" in done.stderr
    peak_mb = int(done.stdout.strip().splitlines()[-1]) / 1024
    assert peak_mb < 500, f"peak RSS {peak_mb:.0f} MB"
    assert sum(1 for _ in out.open("rb")) == 1_000_001
