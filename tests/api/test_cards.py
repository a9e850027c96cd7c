"""The API's champion routes on two versions trained by real jobs: the model card as
Markdown and HTML, the comparison with the champion, promotion that asks for a reason
when the challenger is not significantly better, and the champion history."""

import pytest

from core.db.engine import forget_engines
from tests.api.conftest import client_for
from tests.champion_support import trained_copy

pytestmark = pytest.mark.integration


@pytest.fixture
def api(tmp_path, real_redis, redis_url, settings_env):
    url = trained_copy(tmp_path)
    with client_for(settings_env, DATABASE_URL=url, REDIS_URL=redis_url) as client:
        yield client
    forget_engines()


def test_the_model_card_as_markdown_and_html(api):
    card = api.get("/models/1.1/card")
    assert card.status_code == 200 and card.headers["content-type"].startswith("text/markdown")
    assert card.text.startswith("# Model card: version 1.1")
    assert "## Fairness by group" in card.text and "## Champion history" in card.text
    page = api.get("/models/1.1/card", params={"format": "html"})
    assert page.headers["content-type"].startswith("text/html") and "<svg" in page.text
    bad = api.get("/models/1.1/card", params={"format": "pdf"})
    assert bad.status_code == 422 and "format" in bad.text
    assert api.get("/models/7.0/card").status_code == 404
    assert api.get("/models/abc/card").status_code == 422


def test_promotion_asks_for_a_reason_unless_better_and_is_recorded(api):
    comparison = api.get("/models/1.1/comparison")
    assert comparison.status_code == 200
    result = comparison.json()
    assert result["champion"] == "1.0" and result["challenger"] == "1.1"
    assert set(result["holdout"]["auc"]) == {"challenger", "champion", "difference"}
    promoted = api.put("/models/champion", json={"version": "1.1"})
    if result["significantly_better"]:
        assert promoted.status_code == 200
    else:
        assert promoted.status_code == 409
        assert "give a reason" in promoted.json()["detail"]
        assert promoted.json()["errors"][0]["field"] == "reason"
        promoted = api.put("/models/champion", json={"version": "1.1", "reason": "simpler"})
        assert promoted.status_code == 200
    assert promoted.json()["champion"] == "1.1"
    history = api.get("/models/champion/history").json()
    assert [(h["version"], h["previous"]) for h in history] == [("1.1", "1.0"), ("1.0", None)]
    assert history[0]["actor"] == "anonymous (access control off)"
    assert api.get("/models/1.1/comparison").status_code == 409  # compared with itself
    too_long = api.put("/models/champion", json={"version": "1.0", "reason": "x" * 2_001})
    assert too_long.status_code == 422 and "reason" in too_long.text
