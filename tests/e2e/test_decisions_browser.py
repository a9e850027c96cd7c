"""A signed-in admin sets the loss given default on the Decisions page in Chromium, saves the
most profitable cut-off as the policy threshold, then scores a client on the Score page:
the page starts from that threshold and says so, and the client's reasons are plain words."""

from __future__ import annotations

import re
import secrets
import shutil

import pytest
from playwright.sync_api import expect

from core.auth import SYSTEM, add_user
from core.db.engine import make_engine
from core.ml.evaluation import evaluate
from core.serving.decisions import Costs, best_threshold, decision_holdout, profit_curve
from core.serving.policy import get_policy
from core.serving.reasons import reasons_of
from core.serving.scoring import explain, score
from core.vocabulary import FEATURES, ID, TARGET
from tests.e2e.steps import score_client_in_form
from tests.e2e.test_login_browser import sign_in
from tests.trained import SAMPLE_ROWS, pipelines, real_frame, register

pytestmark = pytest.mark.browser

PASSWORD = secrets.token_urlsafe(12)  # made per run: no password is written in the tests
VERSION = "1.0"
LGD = 0.6
HOLDOUT_ROWS = 1_500
LATE = "recent late payments"


@pytest.fixture
def database_with_holdout(loaded_database, tmp_path) -> str:
    """A copy of the real data with an admin, ada, and version 1.0 (logistic regression)
    evaluated on real holdout clients it was not trained on."""
    target = tmp_path / "decisions.db"
    shutil.copyfile(loaded_database.removeprefix("sqlite:///"), target)
    url = f"sqlite:///{target}"
    frame = real_frame()
    trained = frame.drop(columns=[ID]).sample(SAMPLE_ROWS, random_state=5)  # as tests.trained
    holdout = frame.drop(index=trained.index).sample(HOLDOUT_ROWS, random_state=6)
    evaluation = evaluate(
        pipelines()["lr"],
        holdout[FEATURES],
        holdout[TARGET],
        trained[FEATURES],
        seed=5,
        clients=holdout,
    )
    engine = make_engine(url)
    register(engine, VERSION, "lr", evaluation)
    add_user(engine, "ada", PASSWORD, "admin", actor=SYSTEM)
    engine.dispose()
    return url


def late_client(engine) -> tuple[int, dict]:
    """The first real client, among those late in the latest month, whose reasons under
    version 1.0 include recent late payments."""
    frame = real_frame()
    for _, row in frame[frame["PAY_1"] >= 2].head(50).iterrows():
        client = row[FEATURES].astype(int).to_dict()
        texts = [reason.text for reason in reasons_of(explain(engine, client, VERSION)).reasons]
        if LATE in texts:
            return int(row[ID]), client
    raise AssertionError("no late client has recent late payments among its reasons")


def test_the_saved_policy_threshold_scores_a_client_with_plain_reasons(
    page, start_dashboard, database_with_holdout
):
    engine = make_engine(database_with_holdout)
    curve = profit_curve(decision_holdout(engine, VERSION), Costs(lgd=LGD))
    cut = f"{best_threshold(curve).threshold:.2f}"
    client_id, client = late_client(engine)

    url = start_dashboard(DATABASE_URL=database_with_holdout)
    page.goto(url)
    sign_in(page, "ada", PASSWORD)
    expect(page.get_by_text("Signed in as ada (admin)")).to_be_visible()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Decisions").click()
    expect(page.get_by_role("heading", name="Decisions")).to_be_visible()
    lgd = page.get_by_role("spinbutton", name="Loss given default (%)")
    lgd.fill(f"{LGD * 100:g}")
    lgd.press("Enter")
    save = page.get_by_role("button", name=f"Save {cut} as the policy threshold of version 1.0")
    save.click()
    expect(
        page.get_by_text(f"Policy threshold of version 1.0: {cut}, saved by ada")
    ).to_be_visible()
    saved = get_policy(engine, VERSION)
    assert f"{saved.threshold:.2f}" == cut and saved.costs.lgd == pytest.approx(LGD)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Score").click()
    expect(page.get_by_role("heading", name="Score clients")).to_be_visible()
    expect(page.get_by_text(f"Threshold {cut}: policy threshold of version 1.0.")).to_be_visible()
    score_client_in_form(page, client_id)

    expected = score(engine, client, version=VERSION)
    assert expected.threshold == saved.threshold  # core scores at the policy threshold too
    assert expected.threshold_source == "policy threshold of version 1.0"
    prediction = page.get_by_test_id("stMetric").filter(has_text=f"Prediction at threshold {cut}")
    expect(prediction).to_contain_text(expected.label_text)
    expect(page.get_by_text("Reasons towards default")).to_be_visible()
    reason = page.get_by_text(re.compile(rf"^{LATE}: \+\d+\.\d pts$"))  # a list item
    expect(reason).to_be_visible()
    engine.dispose()
