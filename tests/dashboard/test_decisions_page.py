"""AppTest of the Decisions page and of issue 14 on the Score page: the cut-off from costs,
saved as the policy threshold, which the Score page then starts from; reasons under a
scored client."""

import shutil

import numpy as np
import pytest

from core.auth.audit import recent
from core.data.loader import load_frame
from core.db.engine import make_engine
from core.ml.evaluation import holdout_clients
from core.serving.decisions import Costs, best_threshold, decision_holdout, profit_curve
from core.serving.policy import get_policy, save_policy
from core.serving.scoring import score
from core.vocabulary import FEATURES, TARGET
from dashboard.formats import money
from tests.dashboard.charts import chart, metrics
from tests.trained import real_frame, register

PAGE = "../pages/decisions.py"
SCORE_PAGE = "../pages/score.py"


@pytest.fixture(scope="module")
def decisions_sqlite(tmp_path_factory) -> str:
    """2,000 real clients; version 1.0 (lr) whose holdout is clients 1,000..1,599 scored by
    it, version 1.1 (dt) saved without a holdout."""
    url = f"sqlite:///{tmp_path_factory.mktemp('decisions') / 'credit.db'}"
    engine = make_engine(url)
    clients = real_frame().iloc[:2000].reset_index(drop=True)
    load_frame(engine, clients, "credit.csv")
    register(engine, "1.0", "lr")
    holdout = clients.iloc[1000:1600].reset_index(drop=True)
    probability = np.round(score(engine, holdout, version="1.0")["probability"].to_numpy(), 5)
    engine.dispose()
    engine = make_engine(url)
    with engine.begin() as connection:
        from sqlalchemy import update

        from core.db.schema import ModelVersion

        evaluation = {
            "probabilities": probability.tolist(),
            "holdout_clients": holdout_clients(holdout, holdout[TARGET].to_numpy()),
        }
        connection.execute(
            update(ModelVersion).where(ModelVersion.version == "1.0").values(evaluation=evaluation)
        )
    register(engine, "1.1", "dt")
    engine.dispose()
    return url


@pytest.fixture
def private_url(decisions_sqlite, tmp_path):
    target = tmp_path / "private.db"
    shutil.copyfile(decisions_sqlite.removeprefix("sqlite:///"), target)
    return f"sqlite:///{target}"


def test_the_best_cut_off_is_shown_and_saved_as_the_policy(dashboard, private_url):
    app = dashboard(PAGE, DATABASE_URL=private_url)
    assert not app.exception and not app.error
    app.selectbox(key="dec_version").set_value("1.0").run()
    app.number_input(key="dec_lgd").set_value(60.0)
    app.radio(key="dec_exposure").set_value("bill")
    app.number_input(key="dec_margin").set_value(8.0).run()
    assert not app.exception and not app.error

    engine = make_engine(private_url)
    costs = Costs(lgd=0.6, exposure="bill", margin=0.08)
    best = best_threshold(profit_curve(decision_holdout(engine, "1.0"), costs))
    shown = metrics(app)
    assert shown["Clients approved"] == f"{best.approved:,} of 600"
    assert shown["Defaults let through"] == f"{best.defaults_let_through:,}"
    assert shown["Profit"] == money(best.profit)
    figure = chart(app, "dec_chart")
    names = [trace["name"].split(" ")[0] for trace in figure["traces"]]
    assert names == ["Profit", "Margin", "Realised", "Expected"]
    profit = figure["traces"][0]["y"]
    assert len(figure["traces"][0]["x"]) == 101 and max(profit) == pytest.approx(best.profit)
    assert {"best", "policy"} & set(figure["annotations"]) == {"best"}
    assert any("no policy threshold" in c.value for c in app.caption)

    app.button(key="dec_save").click().run()
    assert not app.exception and not app.error
    policy = get_policy(engine, "1.0")
    assert policy.threshold == best.threshold and policy.costs == costs
    assert recent(engine, 1)[0].action == "policy_set"
    saved = f"Policy threshold of version 1.0: {best.threshold:.2f}"
    assert any(saved in info.value for info in app.info)
    engine.dispose()


@pytest.mark.parametrize(
    "field, value, named",
    [("dec_lgd", 150.0, "lgd: "), ("dec_lgd", 0.0, "lgd: "), ("dec_margin", -1.0, "margin: ")],
)
def test_costs_out_of_range_are_refused_naming_the_field(
    dashboard, decisions_sqlite, field, value, named
):
    app = dashboard(PAGE, DATABASE_URL=decisions_sqlite)
    app.selectbox(key="dec_version").set_value("1.0").run()
    app.number_input(key=field).set_value(value).run()
    assert not app.exception
    assert named in app.error[0].value and not app.get("plotly_chart")


def test_a_version_without_a_holdout_says_what_cannot_be_computed(dashboard, decisions_sqlite):
    app = dashboard(PAGE, DATABASE_URL=decisions_sqlite)
    app.selectbox(key="dec_version").set_value("1.1").run()
    assert not app.exception
    assert "stored no holdout probabilities" in app.warning[0].value
    assert not app.get("plotly_chart") and "dec_save" not in [b.key for b in app.button]


def test_the_score_page_starts_at_the_policy_threshold_and_shows_reasons(dashboard, private_url):
    engine = make_engine(private_url)
    save_policy(engine, "1.0", 0.31, Costs())
    app = dashboard(SCORE_PAGE, DATABASE_URL=private_url)
    app.selectbox(key="score_version").set_value("1.0").run()
    assert app.slider(key="score_threshold").value == 0.31
    assert any("Threshold 0.31: policy threshold of version 1.0." == c.value for c in app.caption)
    app.selectbox(key="score_version").set_value("1.1").run()
    assert app.slider(key="score_threshold").value == 0.5
    assert any("Threshold 0.50: 0.5 default." == c.value for c in app.caption)

    app.selectbox(key="score_version").set_value("1.0").run()
    app.number_input(key="score_client_id").set_value(5)
    app.button(key="score_fill_client").click().run()
    key = f"score_months_{app.session_state['score_months_rev']}"
    late = {m: {"Status": 3} for m in range(3)}
    app.session_state[key] = {"edited_rows": late, "added_rows": [], "deleted_rows": []}
    app.button(key="score_submit").click().run()
    assert not app.exception and not app.error
    assert "Prediction at threshold 0.31" in metrics(app)
    text = [m.value for m in app.markdown]
    assert "**Reasons towards default**" in text
    reasons = [t for t in text if t[:2] in {"1.", "2.", "3.", "4."}]
    assert 1 <= len(reasons) <= 4 and reasons[0].startswith("1. recent late payments: +")
    lowered = " ".join(reasons).lower()
    assert not any(word in lowered for word in ("sex", "marital", "age"))
    assert FEATURES  # the client had all 23 features filled in from client 5
    engine.dispose()


@pytest.mark.parametrize(
    "amount, shown", [(1_763_500, "NT$ 1,763,500"), (-1_668_000, "−NT$ 1,668,000"), (0, "NT$ 0")]
)
def test_money_puts_the_sign_before_the_currency(amount, shown):
    assert money(amount) == shown
