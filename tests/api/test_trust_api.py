"""The API's calibration and fairness: GET /models/{version} carries them, predictions carry
the version's miscalibration warning (null when calibrated), the job shows the options."""

from __future__ import annotations

import pytest

from core.ml.calibration import calibration_warning
from core.vocabulary import FEATURES, ID
from tests.jobs_support import load_clients, real_frame
from tests.trained import register
from tests.trust_support import trust_evaluation

CLIENT = {name: int(real_frame().at[0, name]) for name in FEATURES}


def test_a_version_carries_its_calibration_and_fairness(api, engine):
    stored = trust_evaluation("lr", calibrated=False)
    register(engine, "1.0", "lr", evaluation={**stored, "holdout_rows": 4000})
    register(engine, "0.9", "dt")
    detail = api.get("/models/1.0").json()
    assert detail["trust"] == "computed at training"
    calibration = detail["calibration"]
    for name in ("brier", "ece", "mean_predicted", "observed_rate", "verdict", "warning"):
        assert calibration[name] == stored["calibration"][name]
    assert calibration["curve"] == stored["calibration"]["curve"]
    assert len(calibration["curve"]) == 10
    assert calibration["verdict"] == "miscalibrated" and "miscalibrated" in calibration["warning"]
    fairness = detail["fairness"]
    assert set(fairness["attributes"]) == {"SEX", "AGE", "EDUCATION", "MARRIAGE"}
    education = fairness["attributes"]["EDUCATION"]
    assert education["groups"] == stored["fairness"]["attributes"]["EDUCATION"]["groups"]
    assert education["flagged"] and any(not g["judged"] for g in education["groups"])
    assert detail["evaluation"] == {"threshold": 0.5, "holdout_rows": 4000}

    older = api.get("/models/0.9").json()
    assert older["trust"] == "not computed"
    assert older["calibration"] is None and older["fairness"] is None


@pytest.mark.parametrize("calibrated", [False, True])
def test_predictions_carry_the_warning_of_a_miscalibrated_version(api, engine, calibrated):
    stored = trust_evaluation("lr", calibrated=calibrated)
    register(engine, "1.0", "lr", evaluation=stored)
    expected = calibration_warning(stored)
    assert (expected is None) == calibrated
    one = api.post("/predict/realtime/", json=CLIENT)
    assert one.status_code == 200 and one.json()["warning"] == expected
    again = api.post("/predict/realtime/", json=CLIENT)  # the loaded model's answer
    assert again.json()["warning"] == expected
    records = real_frame().iloc[:5][[ID, *FEATURES]].to_dict("records")
    many = api.post("/predict/batch/", json=records)
    assert many.status_code == 200 and many.json()["warning"] == expected


def test_a_version_without_figures_scores_without_a_warning(api, engine):
    register(engine, "1.0", "lr")
    assert api.post("/predict/realtime/", json=CLIENT).json()["warning"] is None


def test_training_takes_and_shows_the_calibration_and_protected_options(api, engine):
    load_clients(engine, rows=300)
    asked = {"folds": 2, "version": "1.0", "models": ["lr"], "fix_imbalance": True}
    queued = api.post("/train/model/", json=asked | {"leave_out_protected": True})
    assert queued.status_code == 202
    job = api.get(queued.headers["location"]).json()
    assert (job["fix_imbalance"], job["calibrate"], job["leave_out_protected"]) == (
        True,
        "isotonic",  # on by default with the imbalance fix
        True,
    )
    plain = api.post("/train/model/", json={**asked, "version": "1.1", "calibrate": "sigmoid"})
    assert api.get(plain.headers["location"]).json()["calibrate"] == "sigmoid"
    bad = api.post("/train/model/", json={**asked, "version": "1.2", "calibrate": "magic"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "calibrate"
    assert "calibrate must be one of" in bad.json()["detail"]
