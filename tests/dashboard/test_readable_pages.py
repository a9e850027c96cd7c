"""AppTest of the analyst's pages on the real data: every header, metric, caption, line of
text and picker entry is written for people (no offsets such as "+00:00", no literal
"None", no snake_case column names, no raw codes such as "SEX 2")."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from core.db.engine import make_engine
from core.ml.registry import set_champion
from dashboard.formats import SMALL_GROUP_NOTE
from tests.dashboard.charts import open_expander, open_tab
from tests.trained import register

UNREADABLE = {
    "a UTC offset": re.compile(r"\+00:00"),
    "a literal None": re.compile(r"\bNone\b"),
    "a raw code": re.compile(r"\b(SEX|EDUCATION|MARRIAGE|PAY_\d) -?\d\b"),
}
SNAKE_CASE = re.compile(r"^[a-z]+_[a-z_]+$")
PAGES = {
    "home": "../pages/home.py",
    "clients": "../pages/clients.py",
    "payments": "../pages/payments.py",
    "leaderboards": "../pages/leaderboards.py",
}


# Each page's lazy tabs (key, labels) and lazy expanders: drawn only while open.
TABS = {
    "clients": ("clients_view", ["Ages and credit limits", "Default rates", "Matching clients"]),
    "payments": ("payments_view", ["Bills and payments", "Repayment status", "Status moves"]),
    "leaderboards": ("lb_view", ["Compare versions", "One version in detail", "History"]),
}
EXPANDERS = {"payments": ["month_numbers_open"]}


def every_view(app, page: str):
    """The page run with each of its tabs open in turn, its lazy expanders open too."""
    for key in EXPANDERS.get(page, []):
        open_expander(app, key)
    key, labels = TABS.get(page, (None, [None]))
    for label in labels:
        if key is not None:
            open_tab(app, key, label)
        yield app


@pytest.fixture(scope="module")
def with_versions(loaded_sqlite, tmp_path_factory) -> str:
    """The real data set and two registered versions, 1.0 the champion."""
    target = tmp_path_factory.mktemp("readable") / "credit.db"
    shutil.copyfile(loaded_sqlite.removeprefix("sqlite:///"), target)
    url = f"sqlite:///{target}"
    engine = make_engine(url)
    register(engine, "1.0", "lr")
    register(engine, "1.1", "dt")
    set_champion(engine, "1.0", reason="the better AUC")
    engine.dispose()
    return url


def shown_texts(app) -> list[str]:
    """What a person reads on the page: metrics, captions, Markdown, alerts, titles and
    the entries of every picker."""
    texts = [m.label for m in app.metric] + [m.value for m in app.metric]
    for kind in ("caption", "markdown", "info", "warning", "success", "subheader", "title"):
        texts += [str(element.value) for element in app.get(kind)]
    for picker in [*app.selectbox, *app.multiselect]:
        texts += [picker.label, *map(str, picker.options)]
    return texts


def problems(app) -> list[str]:
    """Each unreadable thing shown, named."""
    found = [
        f"{name} in {text!r}"
        for text in shown_texts(app)
        for name, pattern in UNREADABLE.items()
        if pattern.search(text)
    ]
    for table in app.dataframe:
        frame = table.value
        found += [f"a snake_case header {c!r}" for c in frame.columns if SNAKE_CASE.match(str(c))]
        # Streamlit draws a missing cell as a grey "None"
        found += [
            f"a missing value in {c!r}, drawn as None" for c in frame if frame[c].isna().any()
        ]
        cells = frame.select_dtypes(include="object").astype(str).to_numpy().ravel()
        found += [
            f"{name} in cell {cell!r}"
            for cell in cells
            for name, pattern in UNREADABLE.items()
            if pattern.search(cell)
        ]
    return found


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_is_written_for_people(dashboard, with_versions, page):
    app = dashboard(PAGES[page], DATABASE_URL=with_versions)
    if page == "clients":
        app.number_input(key="lookup_id").set_value(1).run()
    for view in every_view(app, page):
        assert not view.exception
        assert problems(view) == [], "\n".join(problems(view))
        assert shown_texts(view)  # the page did show something to judge


def test_the_check_finds_what_it_looks_for():
    class Shown:
        def __init__(self, value):
            self.value, self.label, self.options = value, "", []

    class Page:
        metric, selectbox, multiselect, dataframe = [], [], [], []

        def get(self, kind):
            return [Shown("loaded at 2026-12-02 07:45:00+00:00, by None; SEX 2")] * (
                kind == "caption"
            )

    assert [p.split(" in ")[0] for p in problems(Page())] == [
        "a UTC offset",
        "a literal None",
        "a raw code",
    ]


@pytest.mark.parametrize(
    ("page", "tab", "chart", "small"),
    [
        # 11 clients have the undocumented education code 0
        (
            "clients",
            "Default rates",
            "chart_rate_education",
            "undocumented (0)<br><i>small group</i>",
        ),
        # 9 clients were 8 months late in a month
        ("payments", "Status moves", "chart_transitions", "8 months late (9 clients, small group)"),
    ],
)
def test_small_groups_are_marked_and_explained(dashboard, with_versions, page, tab, chart, small):
    app = open_tab(dashboard(PAGES[page], DATABASE_URL=with_versions), TABS[page][0], tab)
    assert SMALL_GROUP_NOTE in [c.value for c in app.caption]
    spec = json.loads(next(c for c in app.get("plotly_chart") if c.key == chart).proto.spec)
    axis = spec["layout"]["yaxis"]
    assert small in axis.get("ticktext", spec["data"][0]["y"])
