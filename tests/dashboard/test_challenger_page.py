"""AppTest of the Leaderboards page's champion parts on two versions trained by real jobs:
the challenger compared with the champion (figures equal core's), a reason required when
it is not significantly better, the change in the champion history, the card downloads."""

import pytest

from core.db.engine import make_engine
from core.ml.challenger import compare
from core.ml.registry import champion_history, default_version, set_champion
from dashboard.challenger import figures_table, verdict_text
from tests.champion_support import CHALLENGER, CHAMPION, trained_copy
from tests.dashboard.charts import chart, open_tab, texts

pytestmark = pytest.mark.integration
PAGE = "../pages/leaderboards.py"
CARD_KEYS = ("lb_card_md", "lb_card_html")
VIEW, DETAIL = "lb_view", "One version in detail"  # the page draws only the open tab


def table_with(app, column: str):
    """The first table shown with `column` (AppTest does not expose a table's key)."""
    return next(frame.value for frame in app.dataframe if column in frame.value.columns)


@pytest.fixture
def trained(tmp_path):
    url = trained_copy(tmp_path)
    engine = make_engine(url)
    yield url, engine
    engine.dispose()


def test_a_challenger_is_compared_and_promoted_with_a_reason(dashboard, trained):
    url, engine = trained
    challenger, champion = CHALLENGER, CHAMPION
    if compare(engine, challenger, champion, recent=False).significantly_better:
        set_champion(engine, challenger)  # then the other way round is not better
        challenger, champion = champion, challenger
    expected = compare(engine, challenger, champion).as_dict()

    app = open_tab(dashboard(PAGE, DATABASE_URL=url), VIEW, DETAIL)
    app.selectbox(key="lb_detail").set_value(challenger).run()
    assert not app.exception
    assert f"Version {challenger} against champion {champion}" in [s.value for s in app.subheader]
    shown = table_with(app, f"Challenger {challenger}")
    assert shown.equals(figures_table(expected))
    assert verdict_text(expected) in texts(app.warning)
    traces = chart(app, "lb_compare_calibration")["traces"]
    assert [t["name"] for t in traces][1:] == [f"champion {champion}", f"challenger {challenger}"]
    metrics = {m.label: m.value for m in app.metric}
    swaps = expected["holdout"]["swaps"]
    assert metrics["Newly flagged as default"] == f"{swaps['to_default']:,}"
    assert metrics["No longer flagged"] == f"{swaps['to_not_default']:,}"

    assert app.button(key="lb_champion").disabled  # no reason yet
    app.text_area(key="lb_reason").set_value("simpler to explain to the committee").run()
    assert not app.button(key="lb_champion").disabled
    app.button(key="lb_champion").click().run()
    assert not app.exception and default_version(engine) == challenger
    assert f"Version {challenger} is the champion" in texts(app.success)
    latest = champion_history(engine)[0]
    assert (latest.version, latest.previous) == (challenger, champion)
    assert latest.reason == "simpler to explain to the committee"
    history = table_with(open_tab(app, VIEW, "History"), "Reason")
    assert history["Reason"].iloc[0] == "simpler to explain to the committee"


def test_the_model_card_downloads(dashboard, trained):
    url, _ = trained
    app = open_tab(dashboard(PAGE, DATABASE_URL=url), VIEW, DETAIL)
    app.selectbox(key="lb_detail").set_value(CHALLENGER).run()
    labels = [button.proto.label for button in app.get("download_button")]
    assert labels == ["Model card (Markdown)", "Model card (HTML)"]
    # generated on click (AppTest's runtime is gone after a run, so it cannot be clicked
    # here: the card itself is tested in tests/core/test_card.py and tests/api)
    assert all(app.download_button(key=key).proto.deferred_file_id for key in CARD_KEYS)
    open_tab(app, VIEW, "History")
    assert table_with(app, "Reason")["Champion"].tolist() == [CHAMPION]
