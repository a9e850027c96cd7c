"""The portfolio routes over a real database and Redis: start a run, an RQ worker scores
it, read its progress and summary; bad inputs are named."""

from core.portfolio import run_scores
from tests.core.test_jobs import run_rq_burst
from tests.jobs_support import load_clients, rq_runner
from tests.trained import register


def test_a_run_started_by_the_api_is_scored_and_read_back(api, engine, real_redis):
    load_clients(engine, rows=600)
    register(engine, "1.0", "lr")
    body = {"version": "1.0", "lgd": 0.5, "threshold": 0.4, "filters": {"sex": "1"}}
    response = api.post("/portfolio/runs", json=body)
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["state"] == "queued" and response.headers["Location"] == accepted["location"]
    waiting = api.get(accepted["location"]).json()
    assert waiting["summary"] is None and waiting["progress"] == 0

    run_rq_burst(rq_runner(engine, real_redis))
    run = api.get(accepted["location"]).json()
    assert run["state"] == "finished", run["error"]
    assert run["clients"] == "male" and run["clients_done"] == accepted["clients"]
    scores = run_scores(engine, accepted["run_id"])
    summary = run["summary"]
    assert summary["clients"] == len(scores) == accepted["clients"]
    assert summary["decisions"]["decline"] == int((scores["probability"] >= 0.4).sum())
    declined = scores[scores["label"] == 1]
    firsts = declined["reasons"].str.split(",").str[0].value_counts().to_dict()
    assert summary["reasons"]["first"] == {code: n for code, n in firsts.items() if code}
    assert [r["id"] for r in api.get("/portfolio/runs").json()] == [accepted["run_id"]]


def test_bad_inputs_are_refused_naming_the_field(api, engine):
    load_clients(engine, rows=50)
    register(engine, "1.0", "lr")
    cases = [
        ({"lgd": 1.5}, 422, "loss given default (lgd) 1.5"),
        ({"threshold": 2}, 422, "threshold 2"),
        ({"filters": {"age": "old"}}, 422, "filters: age='old': age: 'old' is not a range"),
        ({"version": "9.0"}, 404, "no model version 9.0"),
        ({"colour": "red"}, 422, "colour"),
        ({"exposure": "salary"}, 422, "exposure"),
    ]
    for body, status, detail in cases:
        response = api.post("/portfolio/runs", json=body)
        assert response.status_code == status, (body, response.text)
        assert detail in response.text, (body, response.text)
    assert api.get("/portfolio/runs/5").status_code == 404
    assert api.get("/portfolio/runs").json() == []
