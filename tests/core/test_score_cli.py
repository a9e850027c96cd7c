"""`python -m core score` as a user runs it, in a subprocess, against a model trained here."""

import json

import pandas as pd
import pytest

from core.serving.predictions import recent_scores
from core.serving.reasons import COLUMNS
from core.serving.scoring import score
from core.vocabulary import FEATURES, ID, TARGET
from tests.cli_support import run_cli
from tests.trained import real_frame, register


def client(row: int = 3) -> dict:
    return {name: int(real_frame().at[row, name]) for name in FEATURES}


def test_one_client_as_json_is_scored_printed_and_logged(engine, database_url):
    register(engine, "1.0")
    done = run_cli(
        "score",
        "--version",
        "1.0",
        "--json",
        json.dumps(client()),
        "--threshold",
        "0.1",
        DATABASE_URL=database_url,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    expected = score(engine, client(), version="1.0").probability
    assert printed["version"] == "1.0" and abs(printed["probability"] - expected) < 1e-12
    assert printed["label"] == int(expected >= 0.1) and printed["threshold"] == 0.1
    assert printed["threshold_source"] == "given"
    assert len(printed["reasons"]) <= 4
    assert all(set(reason) == {"code", "text", "effect"} for reason in printed["reasons"])
    log = recent_scores(engine)
    assert log["source"].tolist() == ["cli"] and log["threshold"].tolist() == [0.1]


def test_a_csv_is_scored_into_a_results_file_and_logged(engine, database_url, tmp_path):
    register(engine, "1.0")
    source, out = tmp_path / "clients.csv", tmp_path / "scored.csv"
    real_frame().iloc[:50].drop(columns=[ID]).to_csv(source, index=False)
    done = run_cli("score", "--csv", str(source), "--out", str(out), DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    assert "scored 50 clients with model version 1.0" in done.stderr
    results = pd.read_csv(out)
    assert list(results.columns) == [ID, *FEATURES, TARGET, "probability", "label", *COLUMNS]
    assert "at threshold 0.5 (0.5 default)" in done.stderr
    assert len(recent_scores(engine)) == 50 and set(recent_scores(engine)["source"]) == {"cli"}


BAD = {
    "an invalid field": (
        ["--json", json.dumps({**client(), "AGE": 300})],
        "AGE (age in years): 300 is outside 18..120",
    ),
    "not JSON": (["--json", "{LIMIT_BAL: 1"], "--json is not valid JSON"),
    "a list": (["--json", "[1, 2]"], "--json takes one client as a JSON object"),
    "a bad file": (["--csv", "BAD_FILE"], "line 2, column SEX: 9 is outside 1..2"),
    "no file": (["--csv", "/nonexistent.csv"], "no file at /nonexistent.csv"),
    "an unknown version": (
        ["--version", "4.2", "--json", json.dumps(client())],
        "no model version 4.2",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_readable_message_and_nothing_is_logged(case, tmp_path, sqlite_url):
    from core.db.engine import make_engine

    engine = make_engine(sqlite_url)
    register(engine, "1.0")
    args, message = BAD[case]
    bad_file = tmp_path / "bad.csv"
    bad_file.write_text(",".join(FEATURES) + "\n" + ",".join(["1", "9"] + ["20"] * 21) + "\n")
    args = [str(bad_file) if a == "BAD_FILE" else a for a in args]
    done = run_cli("score", *args, DATABASE_URL=sqlite_url)
    assert done.returncode == 1 and message in done.stderr
    assert "Traceback" not in done.stderr
    assert recent_scores(engine).empty


def test_no_model_yet_says_so(sqlite_url):
    done = run_cli("score", "--json", json.dumps(client()), DATABASE_URL=sqlite_url)
    assert done.returncode == 1 and "no model has been trained yet" in done.stderr


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_the_cli_uses_the_version_s_policy_threshold_and_says_so(engine, database_url, tmp_path):
    from core.serving.decisions import Costs
    from core.serving.policy import save_policy

    register(engine, "1.0")
    save_policy(engine, "1.0", 0.17, Costs())
    done = run_cli("score", "--json", json.dumps(client()), DATABASE_URL=database_url)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["threshold"] == 0.17
    assert printed["threshold_source"] == "policy threshold of version 1.0"
    assert printed["label"] == int(printed["probability"] >= 0.17)

    source, out = tmp_path / "clients.csv", tmp_path / "scored.csv"
    real_frame().iloc[:30].to_csv(source, index=False)
    done = run_cli("score", "--csv", str(source), "--out", str(out), DATABASE_URL=database_url)
    assert "at threshold 0.17 (policy threshold of version 1.0)" in done.stderr
    results = pd.read_csv(out)
    assert (results["label"] == (results["probability"] >= 0.17)).all()
    assert results[COLUMNS].fillna("").map(len).gt(0).any().any()
