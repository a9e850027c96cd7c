"""Stability figures and the CSI table, without Streamlit."""

from core.serving.stability import ACT_ABOVE, STABLE_BELOW, Bin, Index, Period
from dashboard.charts.stability import psi_over_time
from dashboard.stability_panel import csi_table, verdict_text


def test_psi_over_time_draws_judged_points_and_marks_small_periods():
    series = [
        Period("2026-03-02", 400, 0.04, "stable"),
        Period("2026-03-03", 20, None, "too few to judge"),
        Period("2026-03-04", 500, 0.31, "act"),
    ]
    figure = psi_over_time(series, "day")
    psi, few = figure.data
    assert list(psi.x) == ["2026-03-02", "2026-03-04"] and list(psi.y) == [0.04, 0.31]
    assert list(few.x) == ["2026-03-03"] and few.name == "too few to judge"
    assert figure.layout.title.text == "Score PSI per day"
    bands = [(shape.y0, shape.y1) for shape in figure.layout.shapes]
    assert bands[:2] == [(0.0, STABLE_BELOW), (STABLE_BELOW, ACT_ABOVE)]
    assert bands[2][0] == ACT_ABOVE and bands[2][1] >= 0.31
    assert [a.text for a in figure.layout.annotations] == ["stable", "watch", "act"]


def test_csi_table_keeps_the_order_and_says_the_verdict():
    bins = [Bin("1", 0.5, 0.5, 0.0), Bin("2", 0.5, 0.5, 0.0)]
    features = [
        Index("PAY_1", 0.3, 500, "act", bins),
        Index("AGE", 0.02, 500, "stable", bins * 5),
        Index("SEX", None, 50, "too few to judge", bins),
    ]
    table = csi_table(features)
    assert table["Feature"].tolist() == ["PAY_1", "AGE", "SEX"]
    assert table["Verdict"].tolist() == ["⚠ act", "stable", "too few to judge"]
    assert table["Bins"].tolist() == [2, 10, 2]
    assert table["What"].iloc[1] != "AGE"  # the plain title, not the code
    assert verdict_text("watch") == "watch"
