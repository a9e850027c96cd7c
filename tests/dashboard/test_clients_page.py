"""AppTest of the Clients page from the shell: every widget, the figures (average age
included), charts, table and lookup it shows, checked against core on the real data."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy.engine import make_url
from streamlit.testing.v1 import AppTest

from core import explore
from core.data.loader import load_file
from core.explore.filters import Filters
from core.vocabulary import ONE_MONTH_LATE_NOTE
from dashboard.charts.explore import NO_MATCH, client_rows, metric_values
from dashboard.components import escape_markdown
from tests.dashboard.charts import chart, metrics, open_tab, tab_labels, texts
from tests.dashboard.conftest import APP, page_opener
from tests.tcp_proxy import TcpProxy

CLIENTS = "../pages/clients.py"
PAYMENTS = "../pages/payments.py"
HOME = "../pages/home.py"


clients_page = page_opener(CLIENTS, "clients_page")
VIEW = "clients_view"  # the key of the page's tabs
VIEWS = ["Ages and credit limits", "Default rates", "Matching clients"]


def assert_shows(app, db, filters: Filters) -> None:
    """Figures, charts, table and link of the page are those of core for these filters, in
    each of its tabs (each drawn only while open); the first tab is open again after."""
    assert not app.exception
    expected = explore.figures(db, filters)
    assert metrics(app) == metric_values(expected)
    assert tab_labels(app) == VIEWS
    open_tab(app, VIEW, VIEWS[0])
    assert not app.get("dataframe") and not [c for c in app.get("plotly_chart") if "rate" in c.key]
    ages = chart(app, "chart_age")
    assert sum(sum(trace["y"]) for trace in ages["traces"]) == expected.clients
    limits = chart(app, "chart_limit")
    assert sum(sum(trace["y"]) for trace in limits["traces"]) == expected.clients
    open_tab(app, VIEW, "Default rates")
    assert not app.exception and metrics(app) == metric_values(expected)
    for by in explore.BREAKDOWNS:
        rates = explore.default_rates(db, filters, by)
        shown = chart(app, f"chart_rate_{by}")["traces"]
        assert (shown[0]["y"], shown[0]["x"]) == (list(rates["label"]), list(rates["rate"]))
    open_tab(app, VIEW, "Matching clients")
    table = explore.client_table(db, filters)
    pd.testing.assert_frame_equal(app.dataframe[0].value, client_rows(table), check_dtype=False)
    shown_link = {k: v for k, v in app.query_params.items() if k != "client"}
    assert shown_link == filters.to_query()
    open_tab(app, VIEW, VIEWS[0])


def test_opens_on_all_clients_with_the_seeds_average_age(clients_page, db, real_data):
    app = clients_page()
    assert_shows(app, db, Filters())
    real = pd.read_csv(pd.io.common.BytesIO(real_data))
    assert metrics(app)["Average age"] == f"{real['AGE'].mean():.2f}" == "35.45"
    assert metrics(app)["Clients"] == "24,000"
    assert app.caption[0].value == "Showing all clients."
    open_tab(app, VIEW, "Matching clients")
    assert app.get("download_button")[0].label == "Download the 24,000 matching clients (CSV)"


@pytest.mark.parametrize(
    ("kind", "key", "value", "filters"),
    [
        ("multiselect", "filter_sex", [2], Filters(sex=(2,))),
        ("multiselect", "filter_education", [0, 5, 6], Filters(education=(0, 5, 6))),
        ("multiselect", "filter_marriage", [2, 3], Filters(marriage=(2, 3))),
        ("slider", "filter_age", (30, 40), Filters(age=(30, 40))),
        ("slider", "filter_limit", (50_000, 200_000), Filters(limit_bal=(50_000, 200_000))),
        ("radio", "filter_defaulted", "yes", Filters(defaulted=True)),
        ("radio", "filter_defaulted", "no", Filters(defaulted=False)),
    ],
)
def test_each_filter_widget_changes_what_is_shown(clients_page, db, kind, key, value, filters):
    app = clients_page()
    getattr(app, kind)(key=key).set_value(value).run()
    assert_shows(app, db, filters)
    assert metrics(app)["Average age"] != "35.45"


def test_filters_combine_and_clear(clients_page, db):
    app = clients_page()
    app.multiselect(key="filter_sex").set_value([2])
    app.multiselect(key="filter_education").set_value([1, 2])
    app.slider(key="filter_age").set_value((30, 40))
    app.radio(key="filter_defaulted").set_value("yes").run()
    combined = Filters(sex=(2,), education=(1, 2), age=(30, 40), defaulted=True)
    assert_shows(app, db, combined)
    assert app.caption[0].value == (
        "Showing female; graduate school or university; age 30-40; defaulted."
    )
    app.button(key="filter_clear").click().run()
    assert_shows(app, db, Filters())
    assert app.multiselect(key="filter_sex").value == []


def test_no_clients_match_shows_zero_and_empty_charts(clients_page, db):
    app = clients_page()
    app.multiselect(key="filter_marriage").set_value([0])
    app.slider(key="filter_age").set_value((21, 21)).run()
    assert not app.exception
    assert explore.figures(db, Filters(marriage=(0,), age=(21, 21))).clients == 0
    assert metrics(app) == {
        "Clients": "0",
        "Average age": "—",
        "Default rate": "—",
        "Average credit limit": "—",
    }
    assert "No clients match these filters" in app.info[0].value
    for key in ("chart_age", "chart_limit"):
        assert chart(app, key)["traces"] == [] and chart(app, key)["annotations"] == [NO_MATCH]
    open_tab(app, VIEW, "Default rates")
    assert chart(app, "chart_rate_sex")["traces"] == []
    assert chart(app, "chart_rate_sex")["annotations"] == [NO_MATCH]
    open_tab(app, VIEW, "Matching clients")
    assert app.dataframe[0].value.empty
    assert app.get("download_button")[0].proto.disabled


def test_table_is_sorted_sized_and_paged_by_its_widgets(clients_page, db):
    app = open_tab(clients_page(), VIEW, "Matching clients")
    assert app.number_input(key="table_page").label == "Page (of 960)"
    app.selectbox(key="table_sort").set_value("age")
    app.toggle(key="table_desc").set_value(True)
    app.selectbox(key="table_size").set_value(50).run()
    assert app.number_input(key="table_page").label == "Page (of 480)"
    app.number_input(key="table_page").set_value(3).run()
    expected = explore.client_table(
        db, Filters(), sort="age", descending=True, page=3, page_size=50
    )
    pd.testing.assert_frame_equal(app.dataframe[0].value, client_rows(expected), check_dtype=False)
    assert app.dataframe[0].value["Age"].iloc[0] <= 79
    # Narrower filters leave fewer pages: the page number follows.
    app.slider(key="filter_age").set_value((79, 79)).run()
    assert not app.exception
    assert app.number_input(key="table_page").value == 1
    assert list(app.dataframe[0].value["Age"]) == [79]
    # The table's choices outlive its closed tab.
    open_tab(app, VIEW, "Default rates")
    assert not app.get("dataframe")
    open_tab(app, VIEW, "Matching clients")
    assert app.selectbox(key="table_sort").value == "age"
    assert app.toggle(key="table_desc").value is True
    assert app.selectbox(key="table_size").value == 50


def test_lookup_shows_the_profile_and_history_chart(clients_page, db):
    app = clients_page()
    lookup = app.number_input(key="lookup_id")
    assert lookup.value is None and lookup.min == 1 and lookup.step == 1  # whole numbers only
    lookup.set_value(7).run()
    assert not app.exception
    record = explore.client_lookup(db, 7)
    assert app.markdown[-1].value.startswith("**Client 7**: female, age 28, high school, married")
    history = chart(app, "chart_history")
    assert history["title"] == "Client 7: six months of payments"
    bill, paid, status = history["traces"]
    assert bill["x"] == list(record.history["label"])
    assert bill["y"] == list(record.history["bill_amt"])
    assert paid["y"] == list(record.history["pay_amt"])
    assert status["text"] == list(record.history["status_label"])
    assert ONE_MONTH_LATE_NOTE in texts(app.caption)  # the data set's quirk, under the chart
    assert app.query_params["client"] == "7"


def test_unknown_id_says_so(clients_page):
    app = clients_page()
    app.number_input(key="lookup_id").set_value(99_999).run()
    assert not app.exception
    assert [w.value for w in app.warning] == ["no client with id 99999"]
    assert not [c for c in app.get("plotly_chart") if c.key == "chart_history"]


def test_a_link_reopens_the_view(loaded_sqlite, settings_env, db):
    settings_env(DATABASE_URL=loaded_sqlite)
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params.update({"sex": "2", "age": "30-40", "defaulted": "no", "client": "12"})
    app.switch_page(CLIENTS).run()
    assert_shows(app, db, Filters(sex=(2,), age=(30, 40), defaulted=False))
    assert app.multiselect(key="filter_sex").value == [2]
    assert app.slider(key="filter_age").value == (30, 40)
    assert app.number_input(key="lookup_id").value == 12
    assert app.markdown[-1].value.startswith("**Client 12**")


def test_a_bad_link_value_is_ignored_and_named(loaded_sqlite, settings_env, db):
    settings_env(DATABASE_URL=loaded_sqlite)
    app = AppTest.from_file(APP, default_timeout=60)
    app.query_params.update({"sex": "2", "age": "thirty-forty", "client": "abc"})
    app.switch_page(CLIENTS).run()
    assert app.warning[0].value.startswith(
        "The link's filter " + escape_markdown("age='thirty-forty' was ignored")
    )
    assert app.warning[1].value.startswith(
        "The link's " + escape_markdown("client='abc' was ignored: it is not a whole number")
    )
    assert_shows(app, db, Filters(sex=(2,)))
    assert app.number_input(key="lookup_id").value is None


def test_filters_persist_across_pages(clients_page, db):
    app = clients_page()
    app.multiselect(key="filter_education").set_value([3])
    app.radio(key="filter_defaulted").set_value("yes").run()
    app.switch_page(PAYMENTS).run()
    assert not app.exception
    assert app.multiselect(key="filter_education").value == [3]
    assert app.radio(key="filter_defaulted").value == "yes"
    app.switch_page(HOME).run()
    app.switch_page(CLIENTS).run()
    assert_shows(app, db, Filters(education=(3,), defaulted=True))


def test_redis_down_results_still_show_and_the_page_says_the_cache_is_off(clients_page, db):
    app = clients_page(REDIS_URL="redis://127.0.0.1:1/0")
    assert_shows(app, db, Filters())
    assert "The query cache is off" in app.warning[-1].value
    assert "127.0.0.1:1" in app.warning[-1].value


def test_results_are_cached_in_redis(clients_page, real_redis, redis_url):
    app = clients_page(REDIS_URL=redis_url)
    assert not app.exception and not app.warning
    # bounds, figures, ages and limits: what the first tab shows
    assert len(list(real_redis.scan_iter("credit:cache:*"))) >= 4
    open_tab(app, VIEW, "Default rates")
    open_tab(app, VIEW, "Matching clients")
    assert not app.exception and not app.warning
    assert len(list(real_redis.scan_iter("credit:cache:*"))) >= 8


def test_postgres_down_gives_a_readable_error_and_the_page_recovers(dashboard, real_data, db):
    from tests.conftest import fresh_postgres, postgres_url

    url = make_url(postgres_url())
    engine = fresh_postgres(postgres_url())
    load_file(engine, real_data, "credit.csv")
    engine.dispose()
    with TcpProxy(url.host, url.port or 5432) as proxy:
        through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
        app = dashboard(CLIENTS, DATABASE_URL=through)
        assert_shows(app, db, Filters())
        proxy.stop()
        app.multiselect(key="filter_sex").set_value([1]).run()
        assert not app.exception
        assert "The database is not available right now" in app.error[0].value
        assert f"127.0.0.1:{proxy.port}" in app.error[0].value
        proxy.start()
        app.run()
        assert not app.error
        assert_shows(app, db, Filters(sex=(1,)))
