"""Realtime and batch predictions (scored through api.scoring, logged with source "api")."""

import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api import scoring
from api.bodies import SafeJsonRoute, parse_json
from api.deps import EngineDep, allowed
from api.errors import Problem
from api.schemas import BatchOut, ErrorOut, PredictionOut
from core.auth import Actor
from core.data.dataset import DataError
from core.ml.registry import VersionError, format_version
from core.serving.schemas import ClientFeatures
from core.serving.scoring import NoModelError
from core.vocabulary import FEATURES

router = APIRouter(prefix="/predict", tags=["predictions"], route_class=SafeJsonRoute)
MAX_CLIENTS = 100_000
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
# A batch body: a file of MAX_UPLOAD_BYTES and the multipart boundaries around it.
MAX_BATCH_BODY_BYTES = MAX_UPLOAD_BYTES + 1024 * 1024
CLIENT_SCHEMA = ClientFeatures.model_json_schema()
EXAMPLE = {
    "LIMIT_BAL": 20000, "SEX": 2, "EDUCATION": 2, "MARRIAGE": 1, "AGE": 24,
    "PAY_1": 2, "PAY_2": 2, "PAY_3": -1, "PAY_4": -1, "PAY_5": -2, "PAY_6": -2,
    "BILL_AMT1": 3913, "BILL_AMT2": 3102, "BILL_AMT3": 689, "BILL_AMT4": 0,
    "BILL_AMT5": 0, "BILL_AMT6": 0,
    "PAY_AMT1": 0, "PAY_AMT2": 689, "PAY_AMT3": 0, "PAY_AMT4": 0, "PAY_AMT5": 0, "PAY_AMT6": 0,
}  # fmt: skip
ERRORS = {
    404: {"model": ErrorOut, "description": "no model version has this number"},
    409: {
        "model": ErrorOut,
        "description": "no model has been trained yet, or the version's stored model fails "
        "its sha256 or signature check (refused, never loaded)",
    },
    422: {"model": ErrorOut, "description": "each bad field named (with its line or item)"},
    503: {"model": ErrorOut, "description": "the database does not answer"},
}
Version = Annotated[
    str | None,
    Query(description="model version (default: the champion, else the newest)", examples=["1.0"]),
]
Threshold = Annotated[
    float | None,
    Query(ge=0, le=1, allow_inf_nan=False, description="probability from which a client is "
          "labelled default (default: the version's policy threshold, else 0.5)",
          examples=[0.5]),
]  # fmt: skip
WithReasons = Annotated[
    bool,
    Query(description="add the reason codes (an explanation: slower, see PERFORMANCE.md)"),
]


def _checked_version(version: str | None) -> str | None:
    if version is None:
        return None
    try:
        return format_version(version)
    except VersionError as exc:
        raise Problem(422, str(exc), [{"where": "query", "field": "version"}]) from None


def _scored(run, *args):
    """Run a scoring call; a missing model or version becomes 409 or 404."""
    try:
        return run(*args)
    except NoModelError as exc:
        raise Problem(409, str(exc)) from None
    except VersionError as exc:
        raise Problem(404, str(exc)) from None


# The caller, when they may score (401/403 otherwise); core checks the role again.
Scorer = Annotated[Actor, Depends(allowed("score"))]


@router.post(
    "/realtime/",
    summary="Score one client",
    response_model=PredictionOut,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CLIENT_SCHEMA, "example": EXAMPLE}},
        }
    },
)
async def realtime(
    engine: EngineDep,
    actor: Scorer,
    client: Annotated[dict[str, Any], Body()],
    version: Version = None,
    threshold: Threshold = None,
    reasons: WithReasons = False,
) -> PredictionOut:
    """The probability that this client defaults, the label at `threshold` (by default the
    version's policy threshold, else 0.5) and where it came from, and the expected loss.
    With `reasons=true`, up to four reasons towards default (never sex, marital status or
    age). The body is the data set's 23 columns (`LIMIT_BAL`, `PAY_1`, ...; snake_case names
    accepted). `warning` says when the version's probabilities are miscalibrated on its
    holdout."""
    checked = _checked_version(version)
    arguments = (scoring.score_client, engine, client, checked, threshold, actor)
    if scoring.scores_inline(engine, checked):  # no thread hop for a loaded model
        result = _scored(*arguments)
    else:
        result = await run_in_threadpool(_scored, *arguments)
    arguments = (scoring.decision, engine, client, result, reasons, actor)
    if reasons:
        extra = await run_in_threadpool(_scored, *arguments)
    else:
        extra = _scored(*arguments)
    return PredictionOut(
        probability=result.probability,
        label=result.label,
        label_text=result.label_text,
        version=result.version,
        threshold=result.threshold,
        **extra,
        warning=scoring.version_warning(engine, result.version),
    )


CSV_EXAMPLE = ",".join(FEATURES) + "\n" + ",".join(str(EXAMPLE[name]) for name in FEATURES)


@router.post(
    "/batch/",
    summary="Score many clients (JSON list or CSV)",
    response_model=BatchOut,
    responses={
        413: {"model": ErrorOut, "description": f"more than {MAX_CLIENTS:,} clients"},
        415: {"model": ErrorOut, "description": "neither JSON, CSV nor a CSV upload"},
        **ERRORS,
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": CLIENT_SCHEMA, "maxItems": MAX_CLIENTS},
                    "example": [EXAMPLE],
                },
                "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def batch(
    request: Request,
    engine: EngineDep,
    actor: Scorer,
    version: Version = None,
    threshold: Threshold = None,
):
    """Score up to 100,000 clients: a JSON list of clients (as for /predict/realtime/, an
    optional `ID` each), a CSV body (`Content-Type: text/csv`), or a CSV file uploaded as the
    form field `file`. A CSV may use any of the data set's headers; a target is ignored.
    Problems are 422s naming line (CSV; the header is line 1) or item (JSON, from 0) and
    column; nothing is scored from input with a problem."""
    checked = _checked_version(version)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        records = _records(await _body(request))
        try:
            results = await run_in_threadpool(
                _scored, scoring.score_records, engine, records, checked, threshold, actor
            )
        except DataError as exc:
            raise _by_item(exc) from None
    elif kind in ("text/csv", "multipart/form-data"):
        data = await _body(request) if kind == "text/csv" else await _upload(request)
        frame = await run_in_threadpool(scoring.read_csv, data)
        _check_size(len(frame))
        results = await run_in_threadpool(
            _scored, scoring.score_clients, engine, frame, checked, threshold, actor
        )
    else:
        raise Problem(415, "send application/json, text/csv or a multipart upload named file")
    rows = scoring.predictions(results)
    body = {
        "version": results.attrs["version"],
        "threshold": results.attrs["threshold"],
        "threshold_source": results.attrs["threshold_source"],
        "count": len(rows),
    }
    body["warning"] = scoring.version_warning(engine, results.attrs["version"])
    return JSONResponse({**body, "predictions": rows})


async def _body(request: Request) -> bytes:
    data = await request.body()
    if len(data) > MAX_UPLOAD_BYTES:
        raise Problem(413, f"the body is larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
    return data


async def _upload(request: Request) -> bytes:
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise Problem(422, "upload the CSV as the form field `file`", [{"field": "file"}])
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise Problem(413, f"the file is larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
    return data


def _records(data: bytes) -> list[dict]:
    try:
        records = parse_json(data)
    except json.JSONDecodeError as exc:
        raise Problem(422, f"the body is not JSON: {exc}") from None
    if not isinstance(records, list):
        raise Problem(422, "the body must be a JSON list of clients")
    _check_size(len(records))
    bad = [i for i, record in enumerate(records) if not isinstance(record, dict)]
    if bad:
        errors = [{"index": i, "message": "not an object of a client's columns"} for i in bad]
        raise Problem(422, f"items {', '.join(map(str, bad[:20]))} are not clients", errors)
    return records


def _by_item(exc: DataError) -> Problem:
    """A JSON list's problems by item (from 0) rather than by the line of a file."""
    errors = []
    for problem in exc.problems:
        index = problem.line - 2 if problem.line and problem.line >= 2 else None
        errors.append({"index": index, "field": problem.column, "message": problem.message})
    detail = "; ".join(
        (f"item {e['index']}, " if e["index"] is not None else "")
        + (f"{e['field']}: " if e["field"] else "")
        + e["message"]
        for e in errors
    )
    if exc.total > len(exc.problems):
        detail += f"; ... and {exc.total - len(exc.problems)} more problems"
    return Problem(422, detail, errors)


def _check_size(count: int) -> None:
    if count == 0:
        raise Problem(422, "no clients to score")
    if count > MAX_CLIENTS:
        raise Problem(413, f"{count:,} clients; at most {MAX_CLIENTS:,} per request")
