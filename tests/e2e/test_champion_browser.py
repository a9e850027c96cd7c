"""A person compares a challenger with the champion on the Leaderboards page in Chromium,
promotes it with a reason (it is not significantly better), sees the champion history say
why, and downloads its model card."""

import re

import pytest
from playwright.sync_api import expect

from core.db.engine import make_engine
from core.ml.challenger import BETTER, NO_DIFFERENCE, WORSE, compare
from core.ml.evaluation import evaluate
from core.ml.registry import set_champion
from core.vocabulary import FEATURES, ID, TARGET
from tests.e2e.steps import open_tab, pick_option
from tests.trained import SAMPLE_ROWS, pipelines, real_frame, register

pytestmark = pytest.mark.browser
CHAMPION, CHALLENGER = "1.0", "1.1"
HOLDOUT_ROWS = 1_500
REASON = "simpler to explain to the credit committee"
DETAIL = "One version in detail"  # the Leaderboards tab with the champion area
SECTIONS = ("Intended use and limits", "Calibration", "Fairness by group", "Champion history")
VERDICTS = {WORSE: "is significantly worse than", NO_DIFFERENCE: "is not significantly better than"}


@pytest.fixture
def two_versions(tmp_path) -> str:
    """A database with two versions evaluated on the same real holdout clients, which the
    models were not trained on: 1.0 (logistic regression, the champion) and 1.1 (decision
    tree, not significantly better)."""
    frame = real_frame()
    trained = frame.drop(columns=[ID]).sample(SAMPLE_ROWS, random_state=5)  # as tests.trained
    holdout = frame.drop(index=trained.index).sample(HOLDOUT_ROWS, random_state=6)
    url = f"sqlite:///{tmp_path / 'credit.db'}"
    engine = make_engine(url)
    for version, model_id in ((CHAMPION, "lr"), (CHALLENGER, "dt")):
        evaluation = evaluate(
            pipelines()[model_id],
            holdout[FEATURES],
            holdout[TARGET],
            trained[FEATURES],
            seed=5,
            clients=holdout,
        )
        register(engine, version, model_id, evaluation)
    set_champion(engine, CHAMPION)
    engine.dispose()
    return url


def table_with(page, text: str):
    """The tables showing `text`. A table's cells reach the page's text only once it has been
    in view (the grid draws on a canvas), so every table is scrolled into view first."""
    tables = page.get_by_test_id("stDataFrame")
    for index in range(tables.count()):
        tables.nth(index).scroll_into_view_if_needed()
    return tables.filter(has_text=text)


def test_a_challenger_is_compared_promoted_and_its_card_downloaded(
    page, start_dashboard, two_versions, tmp_path
):
    engine = make_engine(two_versions)
    expected = compare(engine, CHALLENGER, CHAMPION).holdout
    engine.dispose()
    assert expected["verdict"] != BETTER, expected["auc"]  # else no reason would be asked

    url = start_dashboard(DATABASE_URL=two_versions)
    page.goto(f"{url}/leaderboards")
    open_tab(page, DETAIL)
    expect(page.get_by_text(f"Version {CHAMPION} is the champion")).to_be_visible()
    pick_option(page, "Version", f"{CHALLENGER} ·")  # "1.1 · model · AUC · created"

    against = f"Version {CHALLENGER} against champion {CHAMPION}"
    expect(page.get_by_role("heading", name=against)).to_be_visible()
    basis = page.get_by_text(re.compile(f"^On {expected['rows']:,} holdout clients"))
    expect(basis).to_be_visible()
    figures = table_with(page, f"Challenger {CHALLENGER}")
    expect(figures).to_contain_text(f"Champion {CHAMPION}")
    for side in ("challenger", "champion"):
        auc = expected["auc"][side]
        expect(figures).to_contain_text(f"{auc['value']:.4f}")
        expect(figures).to_contain_text(f"{auc['low']:.4f} to {auc['high']:.4f}")
    difference = expected["auc"]["difference"]
    verdict = page.get_by_test_id("stAlert").filter(
        has_text=f"Version {CHALLENGER} {VERDICTS[expected['verdict']]} champion {CHAMPION}"
    )
    expect(verdict).to_contain_text(f"{difference['value']:+.4f}")
    expect(verdict).to_contain_text(
        f"95% interval {difference['low']:+.4f} to {difference['high']:+.4f}"
    )
    swaps = expected["swaps"]
    metrics = page.get_by_test_id("stMetric")
    expect(metrics.filter(has_text="Newly flagged as default")).to_contain_text(
        f"{swaps['to_default']:,}"
    )
    expect(metrics.filter(has_text="No longer flagged")).to_contain_text(
        f"{swaps['to_not_default']:,}"
    )

    promote = page.get_by_role("button", name=f"Make version {CHALLENGER} the champion")
    expect(promote).to_be_disabled()
    expect(page.get_by_text("Give a reason to make it the champion.")).to_be_visible()
    reason = page.get_by_role("textbox", name="Reason for making it the champion")
    reason.fill(REASON)
    reason.press("Control+Enter")  # a text area sends its value on Ctrl+Enter or on blur
    expect(promote).to_be_enabled()
    promote.click()
    expect(page.get_by_text(f"Version {CHALLENGER} is the champion")).to_be_visible()
    expect(page.get_by_role("heading", name=against)).to_have_count(0)
    open_tab(page, "History")
    expect(page.get_by_role("heading", name="Champion history")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)  # the detail's tables are gone
    history = table_with(page, REASON)
    expect(history).to_contain_text(CHAMPION)
    open_tab(page, DETAIL)  # the version chosen there is kept
    expect(page.get_by_text(f"Version {CHALLENGER} is the champion")).to_be_visible()

    page.get_by_text("Parameters, libraries and checksum").click()
    checksum = page.get_by_text(re.compile(r"sha256 [0-9a-f]{64}"))
    expect(checksum).to_be_visible()
    sha256 = re.search(r"[0-9a-f]{64}", checksum.inner_text()).group()
    with page.expect_download() as waiting:
        page.get_by_role("button", name="Model card (Markdown)").click()
    download = waiting.value
    assert download.suggested_filename == f"model-card-{CHALLENGER}.md"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    card = saved.read_text(encoding="utf-8")
    assert card.startswith(f"# Model card: version {CHALLENGER}, Decision Tree Classifier")
    for title in SECTIONS:
        assert f"\n## {title}\n" in card, title
    assert sha256 in card
    assert f"Version {CHALLENGER} is the champion." in card
    assert REASON in card
