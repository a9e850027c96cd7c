"""A person opens the Score page in Chromium, fills the form from a client and sees the score."""

import re
import shutil

import pytest
from playwright.sync_api import expect

from core.db.engine import make_engine
from core.serving.predictions import recent_scores
from core.serving.scoring import score
from core.vocabulary import FEATURES, ID
from tests.e2e.steps import score_client_in_form
from tests.trained import real_frame, register

pytestmark = pytest.mark.browser


@pytest.fixture
def database_with_model(loaded_database, tmp_path) -> str:
    """A copy of the shared database (the real data) with a logistic regression as 1.0."""
    source = loaded_database.removeprefix("sqlite:///")
    target = tmp_path / "scoring.db"
    shutil.copy(source, target)
    url = f"sqlite:///{target}"
    engine = make_engine(url)
    register(engine, "1.0", "lr")
    engine.dispose()
    return url


def test_a_client_is_scored_from_the_form(page, start_dashboard, database_with_model):
    url = start_dashboard(DATABASE_URL=database_with_model)
    page.goto(f"{url}/score")
    score_client_in_form(page, 5)

    client = real_frame().set_index(ID).loc[5, FEATURES].astype(int).to_dict()
    engine = make_engine(database_with_model)
    expected = score(engine, client, version="1.0")
    probability = page.get_by_test_id("stMetric").filter(has_text="Probability of default")
    expect(probability).to_contain_text(f"{expected.probability:.1%}")
    prediction = page.get_by_test_id("stMetric").filter(has_text="Prediction at threshold")
    expect(prediction).to_contain_text(expected.label_text)
    expect(page.get_by_text("Red pushes towards default")).to_be_visible()
    assert_bar_labels_show_in_full(page)
    assert recent_scores(engine)["source"].tolist() == ["form"]
    engine.dispose()


def assert_bar_labels_show_in_full(page) -> None:
    """Every explanation bar's label reads "+5.8 pts" or "−2.1 pts" (a real minus) and lies
    inside the plot area, where plotly cuts what crosses the axes' range."""
    chart = page.get_by_test_id("stPlotlyChart").filter(has_text="Red pushes towards default")
    labels = chart.locator("text.bartext")
    expect(labels.first).to_be_visible()
    frame = chart.locator("rect.nsewdrag").first.bounding_box()  # the plot area
    for n in range(labels.count()):
        label = labels.nth(n)
        assert re.fullmatch(r"[+−]?\d+\.\d+ pts", label.text_content()), label.text_content()
        box = label.bounding_box()
        assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]


def test_a_file_is_scored_and_its_results_downloaded(
    page, start_dashboard, database_with_model, tmp_path
):
    import pandas as pd

    from core.serving.scoring import score_file

    rows = real_frame().iloc[:300]
    source = tmp_path / "clients.csv"
    rows.to_csv(source, index=False)
    url = start_dashboard(DATABASE_URL=database_with_model)
    page.goto(f"{url}/score")
    page.get_by_role("tab", name="A file of clients").click()
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(source))
    page.get_by_role("button", name="Score file").click()
    scored = page.get_by_test_id("stMetric").filter(has_text="Clients scored")
    expect(scored).to_contain_text("300")

    with page.expect_download() as waiting:
        page.get_by_role("button", name="Download the results (CSV)").click()
    download = waiting.value
    assert download.suggested_filename == "clients-scored.csv"
    saved = tmp_path / "downloaded.csv"
    download.save_as(saved)
    results = pd.read_csv(saved, float_precision="round_trip")
    engine = make_engine(database_with_model)
    expected = score_file(engine, source.read_bytes(), version="1.0", source=None)
    engine.dispose()
    assert list(results.columns) == [*expected.columns, *(f"reason_{n}" for n in range(1, 5))]
    assert results[ID].tolist() == expected[ID].tolist()
    assert (results["probability"] - expected["probability"]).abs().max() < 1e-12
