"""The API's request and response bodies, with examples for /docs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# Texts in bodies are short: a long one is refused by its length, never echoed in a message.
VersionText = Annotated[str, StringConstraints(max_length=20)]
ShortText = Annotated[str, StringConstraints(max_length=40)]


def _examples(*examples: dict) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class ErrorOut(BaseModel):
    """Every error: a plain `detail`; 422s list each bad field in `errors` too."""

    model_config = _examples(
        {
            "detail": "body AGE: 150 is outside 21..79",
            "errors": [{"where": "body", "field": "AGE", "message": "150 is outside 21..79"}],
        }
    )
    detail: str
    errors: list[dict] | None = None


class HitsOut(BaseModel):
    model_config = _examples(
        {"hits": 3, "message": "Welcome to the home page of the API. I have been visited 3 times"}
    )
    hits: int
    message: str


class HealthOut(BaseModel):
    model_config = _examples(
        {"status": "ok", "access_control": "on"},
        {"status": "ok", "access_control": "off: no users; anyone who reaches this port may use "
         "the API"},
    )  # fmt: skip
    status: str
    access_control: str = Field(
        description="`on`: every endpoint but /health, /ready and the docs needs an API key; "
        "`off: ...` while no user exists (anyone who reaches the port may do anything); "
        "`unknown: ...` when the database does not answer"
    )


class ReadyOut(BaseModel):
    model_config = _examples(
        {
            "ready": True,
            "database": "database postgresql+psycopg://credit@db/credit answers",
            "redis": "redis://redis:6379/0 answers",
            "prediction_log": "the prediction log can be written; 0 rows waiting",
        }
    )
    ready: bool
    database: str
    redis: str
    prediction_log: str


class MonthOut(BaseModel):
    month: int = Field(description="1 = Sep 2005 (latest) ... 6 = Apr 2005")
    label: str
    status: int
    status_label: str
    bill_amt: int
    pay_amt: int


class ClientOut(BaseModel):
    """A client's profile (codes and their labels) and six months of payments, oldest first."""

    model_config = _examples(
        {
            "id": 1,
            "limit_bal": 20000,
            "age": 24,
            "sex": 2,
            "sex_label": "female",
            "education": 2,
            "education_label": "university",
            "marriage": 1,
            "marriage_label": "married",
            "defaulted": True,
            "payments": [
                {
                    "month": 1,
                    "label": "Sep 2005",
                    "status": 2,
                    "status_label": "2 months late",
                    "bill_amt": 3913,
                    "pay_amt": 0,
                }
            ],
        }
    )
    id: int
    limit_bal: int
    age: int
    sex: int
    sex_label: str
    education: int
    education_label: str
    marriage: int
    marriage_label: str
    defaulted: bool
    payments: list[MonthOut]


class AverageAgeOut(BaseModel):
    model_config = _examples(
        {
            "average_age": 36.2,
            "clients": 9015,
            "filters": {"sex": "2", "education": "2"},
            "description": "female; university",
        }
    )
    average_age: float | None = Field(description="null when no client matches")
    clients: int
    filters: dict[str, str] = Field(description="the filters applied, in the dashboard's URL form")
    description: str


class TrainingPageOut(BaseModel):
    model_config = _examples(
        {
            "offset": 0,
            "limit": 1,
            "count": 1,
            "next_offset": 1,
            "rows": [{"ID": 1, "LIMIT_BAL": 20000, "AGE": 24, "default": 1}],
        }
    )
    offset: int
    limit: int
    count: int
    next_offset: int | None = Field(description="the offset of the next page; null at the end")
    rows: list[dict[str, int]]


class TrainIn(BaseModel):
    """A training job: what `POST /train/model/` takes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"folds": 3, "version": "2.0", "models": ["lr", "dt", "nb"], "metric": "AUC"}
            ]
        },
    )
    folds: int = Field(5, description="cross-validation folds, 2..10")
    version: VersionText | float | None = Field(
        None, description="the new model version, e.g. 2.0 (default: the next unused one)"
    )
    models: list[ShortText] | None = Field(
        None, max_length=100, description="PyCaret model ids (default: the turbo set)"
    )
    metric: ShortText = Field("AUC", description="the metric that picks the best model")
    sample: int | None = Field(None, description="train on this many clients (default: all)")
    fix_imbalance: bool = False
    calibrate: ShortText | None = Field(
        None,
        description="calibrate the kept model's probabilities: isotonic, sigmoid or none "
        "(default: isotonic with fix_imbalance, else none)",
    )
    leave_out_protected: bool = Field(
        False, description="train without the protected attributes SEX, AGE and MARRIAGE"
    )


class JobAcceptedOut(BaseModel):
    model_config = _examples(
        {
            "job_id": "0b8a6a4e-5d6f-4c36-9f0e-2b0f8f2c6a11",
            "state": "queued",
            "version": "2.0",
            "location": "/jobs/0b8a6a4e-5d6f-4c36-9f0e-2b0f8f2c6a11",
        }
    )
    job_id: str
    state: str
    version: str
    location: str


class BoardRowOut(BaseModel):
    model_id: str
    model_name: str
    position: int
    state: str
    metrics: dict[str, float | None]
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class JobOut(BaseModel):
    """A training job: state, progress, the leaderboard so far, and its error if it failed."""

    model_config = _examples(
        {
            "id": "0b8a6a4e-5d6f-4c36-9f0e-2b0f8f2c6a11",
            "state": "running",
            "stage": "training",
            "version": "2.0",
            "folds": 3,
            "models": ["nb", "dt", "lr"],
            "metric": "AUC",
            "sample_size": None,
            "fix_imbalance": False,
            "calibrate": "none",
            "leave_out_protected": False,
            "rows": 24000,
            "models_done": 1,
            "models_total": 3,
            "current_model": "dt",
            "error": None,
            "cancel_requested": False,
            "runner": "rq",
            "submitted_at": "2026-01-05T10:00:00Z",
            "started_at": "2026-01-05T10:00:01Z",
            "finished_at": None,
            "best_model_id": None,
            "best_model_name": None,
            "best_score": None,
            "leaderboard": [],
        }
    )
    id: str
    state: str
    stage: str | None
    version: str
    folds: int
    models: list[str]
    metric: str
    sample_size: int | None
    fix_imbalance: bool
    calibrate: str = Field(description="isotonic, sigmoid or none")
    leave_out_protected: bool = Field(description="trained without SEX, AGE and MARRIAGE")
    rows: int | None
    models_done: int
    models_total: int
    current_model: str | None
    error: str | None
    note: str | None = None
    cancel_requested: bool
    runner: str
    submitted_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    best_model_id: str | None
    best_model_name: str | None
    best_score: float | None
    leaderboard: list[BoardRowOut] = Field(
        default_factory=list, description="one row per model; empty in the job list"
    )


class ModelOut(BaseModel):
    version: str
    model_id: str
    model_name: str
    metric: str
    metrics: dict[str, float | None]
    folds: int
    rows: int
    is_champion: bool
    created_at: datetime
    sha256: str
    job_id: str | None


class ModelsOut(BaseModel):
    model_config = _examples(
        {
            "champion": "1.0",
            "default": "1.0",
            "versions": [
                {
                    "version": "1.0",
                    "model_id": "lr",
                    "model_name": "Logistic Regression",
                    "metric": "AUC",
                    "metrics": {"AUC": 0.72},
                    "folds": 5,
                    "rows": 24000,
                    "is_champion": True,
                    "created_at": "2026-01-05T10:03:00Z",
                    "sha256": "9f2c...",
                    "job_id": None,
                }
            ],
        }
    )
    champion: str | None = Field(description="the version chosen as champion, if any")
    default: str | None = Field(description="the version scoring uses: champion, else newest")
    versions: list[ModelOut]


class CalibrationBinOut(BaseModel):
    low: float = Field(description="the bin's lower edge (probability)")
    high: float = Field(description="the bin's upper edge")
    predicted: float | None = Field(description="mean predicted probability; null when empty")
    observed: float | None = Field(description="observed default rate; null when empty")
    count: int = Field(description="holdout clients in the bin")


class CalibrationOut(BaseModel):
    """How true a version's probabilities are on its holdout clients."""

    brier: float | None = Field(None, description="mean squared error of the probabilities")
    ece: float | None = Field(
        None, description="expected calibration error: count-weighted mean |observed - predicted|"
    )
    mean_predicted: float | None = Field(None, description="mean predicted probability")
    observed_rate: float | None = Field(None, description="observed default rate")
    rows: int | None = Field(None, description="holdout clients")
    curve: list[CalibrationBinOut] = Field(
        default_factory=list, description="the reliability curve: 10 equal-width bins"
    )
    verdict: str | None = Field(None, description="calibrated or miscalibrated")
    warning: str | None = Field(None, description="the warning shown when miscalibrated")
    method: str | None = Field(
        None, description="isotonic or sigmoid when the training job calibrated the model"
    )
    uncalibrated: dict | None = Field(
        None, description="auc, ece, brier and mean_predicted before calibration"
    )
    note: str | None = Field(None, description="why calibration was asked for but not applied")


class FairnessGroupOut(BaseModel):
    group: str = Field(description="the group in words (male, 25-34, university, ...)")
    code: int | None = Field(description="the data set's code; for age, the band's lowest age")
    clients: int
    defaulters: int
    default_rate: float | None = Field(description="observed default rate")
    mean_predicted: float | None = Field(description="mean predicted probability")
    auc: float | None = Field(description="null when the group is too few to judge")
    tpr: float | None = Field(description="true-positive rate at the threshold")
    fpr: float | None = Field(description="false-positive rate at the threshold")
    selection_rate: float | None = Field(description="share flagged as default")
    approval_rate: float | None = Field(description="share not flagged (the favourable outcome)")
    ratio: float | None = Field(
        description="approval rate over the most favoured group's; null when not judged"
    )
    flagged: bool = Field(description="ratio under the floor (the four-fifths rule)")
    judged: bool = Field(description="false for fewer than 30 clients or no defaulter")
    note: str | None = Field(description='"too few to judge" when not judged')


class FairnessAttributeOut(BaseModel):
    name: str = Field(description="the attribute in words")
    reference: str | None = Field(description="the most favoured group")
    flagged: list[str] = Field(description="groups whose ratio is under the floor")
    groups: list[FairnessGroupOut]


class FairnessOut(BaseModel):
    """How a version treats each group of clients on its holdout, at its threshold."""

    threshold: float = Field(description="flagged as default from this probability")
    favourable: str = Field(description="the outcome the ratios compare")
    ratio_floor: float = Field(description="ratios under it are flagged (0.8)")
    min_clients: int = Field(description="smaller groups are too few to judge")
    attributes: dict[str, FairnessAttributeOut] = Field(
        description="by attribute: SEX, AGE (bands), EDUCATION, MARRIAGE"
    )


class ModelDetailOut(ModelOut):
    """A version's metrics, parameters, evaluation summary and checksum (sha256)."""

    params: dict
    library_versions: dict
    evaluation: dict = Field(
        description="holdout metrics, confusion at the threshold, feature importance "
        "(curves and samples left out)"
    )
    trust: str = Field(
        description='"computed at training", or "not computed" for a version saved before '
        "calibration and fairness were kept"
    )
    calibration: CalibrationOut | None = Field(
        description="calibration on the holdout; null when not computed"
    )
    fairness: FairnessOut | None = Field(
        description="fairness by group on the holdout; null when not computed"
    )


class ChampionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": "1.0"}]})
    version: VersionText | float
    reason: str = Field(
        "",
        max_length=2_000,
        description="why; required unless the version is significantly better than the champion",
    )


class ReasonOut(BaseModel):
    code: str
    text: str
    effect: float = Field(description="push towards default, in probability (0.05 = 5 points)")


class PredictionOut(BaseModel):
    model_config = _examples(
        {
            "probability": 0.731,
            "label": 1,
            "label_text": "Default",
            "version": "1.0",
            "threshold": 0.5,
            "threshold_source": "0.5 default",
            "expected_loss": 6577.2,
            "reasons": [{"code": "late_payments", "text": "recent late payments", "effect": 0.21}],
            "protected_note": None,
        }
    )
    probability: float
    label: int
    label_text: str
    version: str
    threshold: float
    threshold_source: str = Field(
        description='where the threshold came from: "given", "policy threshold of version '
        '1.2" or "0.5 default"'
    )
    expected_loss: float = Field(
        description="probability x loss given default x exposure, under the version's policy "
        "costs (else LGD 45% of the credit limit)"
    )
    reasons: list[ReasonOut] | None = Field(
        None, description="with ?reasons=true: up to four reasons towards default, largest first"
    )
    protected_note: str | None = Field(
        None,
        description="with ?reasons=true: what sex, marital status and age added, when they "
        "pushed the score up (never a reason)",
    )
    warning: str | None = Field(
        None,
        description="why the version's probabilities should not be read as such "
        "(miscalibrated on its holdout); null otherwise",
    )


class BatchRowOut(BaseModel):
    ID: int
    probability: float
    label: int
    label_text: str


class BatchOut(BaseModel):
    model_config = _examples(
        {
            "version": "1.0",
            "threshold": 0.5,
            "threshold_source": "0.5 default",
            "count": 1,
            "predictions": [{"ID": 1, "probability": 0.731, "label": 1, "label_text": "Default"}],
        }
    )
    version: str
    threshold: float
    threshold_source: str
    count: int
    warning: str | None = Field(
        None, description="the version's miscalibration warning; null when calibrated"
    )
    predictions: list[BatchRowOut]
