"""Home's figures (core.overview) on SQLite and Postgres: the portfolio against pandas on
the same clients, the champion card, the latest job and the light score PSI."""

from __future__ import annotations

from math import isclose

import numpy as np
import pytest

from core import jobs
from core.ml.registry import set_champion
from core.overview import DEFAULT_POLICY, champion_card, latest_job, model_overview, portfolio
from core.serving.stability import score_stability, stability
from tests.core.test_stability import development_evaluation, log_known_scores
from tests.jobs_support import load_clients, real_frame, rq_runner
from tests.queries import counting_queries
from tests.trained import register

ROWS = 400


def test_portfolio_figures_equal_pandas_on_the_same_clients(engine):
    load_clients(engine, rows=ROWS)
    clients = real_frame().iloc[:ROWS]
    shown = portfolio(engine)
    assert shown.clients == ROWS
    assert isclose(shown.default_rate, clients["default"].mean())
    assert isclose(shown.average_limit, clients["LIMIT_BAL"].mean())
    assert isclose(shown.late_last_month, (clients["PAY_1"] >= 1).mean())
    assert shown.month == "Sep 2005"


def test_champion_card_prefers_the_champion_and_reads_its_evaluation(engine):
    assert champion_card(engine) is None
    calibration = {"verdict": "miscalibrated", "warning": "Probabilities are off"}
    register(engine, "1.0", "lr", evaluation={"holdout": {"AUC": 0.77}, "calibration": calibration})
    register(engine, "1.1", "dt")
    newest = champion_card(engine)
    assert (newest.version, newest.champion, newest.auc_source) == ("1.1", False, "cross-validated")
    assert newest.auc == 0.7 and newest.calibration is None
    set_champion(engine, "1.0")
    card = champion_card(engine)
    assert (card.version, card.champion, card.model_name) == ("1.0", True, "Logistic Regression")
    assert card.auc == 0.77 and card.auc_source == "holdout"
    assert card.calibration == "miscalibrated"
    assert card.calibration_warning == "Probabilities are off"
    assert (card.threshold, card.threshold_note) == (0.5, DEFAULT_POLICY)


def test_latest_job_is_the_newest_submitted(engine, real_redis):
    load_clients(engine, rows=50)
    assert latest_job(engine) is None
    runner = rq_runner(engine, real_redis)
    first = jobs.submit(engine, {"folds": 2, "version": "1.1", "models": ["lr"]}, runner)
    second = jobs.submit(engine, {"folds": 2, "version": "1.2", "models": ["lr"]}, runner)
    job = latest_job(engine)
    assert job.id == second != first and job.state == "queued" and job.version == "1.2"


@pytest.mark.parametrize("window", [1_000, 300])
def test_the_light_score_psi_equals_the_full_one(engine, window):
    register(engine, "1.0", "lr", evaluation=development_evaluation())
    log_known_scores(engine, np.r_[np.full(300, 0.05), np.full(700, 0.95)])
    light = score_stability(engine, "1.0", window=window)
    assert light == stability(engine, "1.0", window=window).score
    register(engine, "1.1", "dt")
    assert score_stability(engine, "1.1") is None


def test_model_overview_reads_the_evaluation_once(engine):
    assert model_overview(engine) is None
    register(engine, "1.0", "lr", evaluation=development_evaluation() | {"holdout": {"AUC": 0.8}})
    log_known_scores(engine, np.full(200, 0.05))
    with counting_queries() as home:
        overview = model_overview(engine)
    assert home.keyed == 1 and home.listed == 0
    assert overview.card == champion_card(engine)
    assert overview.stability == score_stability(engine, "1.0")
    assert overview.stability.verdict == "act"
