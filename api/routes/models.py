"""Model versions and the champion."""

from datetime import UTC
from typing import Annotated

from fastapi import APIRouter, Depends

from api.bodies import SafeJsonRoute
from api.deps import EngineDep, allowed
from api.errors import Problem
from api.schemas import ChampionIn, ErrorOut, ModelDetailOut, ModelOut, ModelsOut
from core.auth import Actor
from core.ml.registry import (
    ChampionError,
    VersionError,
    champion_or_latest,
    format_version,
    get_version,
    list_versions,
    set_champion,
)
from core.ml.trust import AT_TRAINING, NOT_COMPUTED

router = APIRouter(prefix="/models", tags=["models"], route_class=SafeJsonRoute)
UNAVAILABLE = {503: {"model": ErrorOut, "description": "the database does not answer"}}
VERSION_ERRORS = {
    404: {"model": ErrorOut, "description": "no model version has this number"},
    422: {"model": ErrorOut, "description": "not a version number like 1.0"},
    **UNAVAILABLE,
}
REFUSED = {
    409: {
        "model": ErrorOut,
        "description": "the version's stored model fails its sha256 or signature check, or "
        "no reason was given for a version not significantly better than the champion",
    }
}
# The evaluation's parts that summarise it; the curves and samples are for the charts.
EVALUATION_SUMMARY = ("holdout", "confusion", "threshold", "holdout_rows", "importance")
EVALUATION_SUMMARY += ("importance_kind",)
TRUST_PARTS = ("calibration", "fairness")


def _summary(info) -> dict:
    values = {name: getattr(info, name) for name in ModelOut.model_fields}
    if values["created_at"].tzinfo is None:  # SQLite hands back naive times; all are UTC
        values["created_at"] = values["created_at"].replace(tzinfo=UTC)
    return values


def _version(value) -> str:
    try:
        return format_version(value)
    except VersionError as exc:
        raise Problem(422, str(exc), [{"field": "version", "message": str(exc)}]) from None


def _info(engine, version: str, parts=None):
    try:
        return get_version(engine, version, parts=parts)
    except VersionError as exc:
        raise Problem(404, str(exc)) from None


@router.get(
    "",
    summary="Model versions and the champion",
    response_model=ModelsOut,
    responses=UNAVAILABLE,
    dependencies=[Depends(allowed("view_models"))],
)
def models(engine: EngineDep) -> ModelsOut:
    """Every version, newest first; `default` is what scoring uses without a version."""
    versions = list_versions(engine)
    champion = next((v.version for v in versions if v.is_champion), None)
    default = champion_or_latest(versions)
    return ModelsOut(champion=champion, default=default, versions=[_summary(v) for v in versions])


@router.get(
    "/{version}",
    summary="One model version",
    response_model=ModelDetailOut,
    responses=VERSION_ERRORS,
    dependencies=[Depends(allowed("view_models"))],
)
def model(version: str, engine: EngineDep) -> ModelDetailOut:
    """Metrics, parameters, the holdout evaluation's summary, the artifact's sha256, and
    calibration and fairness on the holdout (null, with `trust` "not computed", for a
    version saved before they were kept)."""
    info = _info(engine, _version(version), parts=(*EVALUATION_SUMMARY, *TRUST_PARTS))
    evaluation = dict(info.evaluation)
    calibration, fairness = (evaluation.pop(part, None) for part in TRUST_PARTS)
    return ModelDetailOut(
        **_summary(info),
        params=info.params,
        library_versions=info.library_versions,
        evaluation=evaluation,
        trust=AT_TRAINING if calibration else NOT_COMPUTED,
        calibration=calibration,
        fairness=fairness,
    )


@router.put(
    "/champion",
    summary="Choose the champion",
    response_model=ModelsOut,
    responses={**VERSION_ERRORS, **REFUSED},
)
def champion(
    actor: Annotated[Actor, Depends(allowed("set_champion"))], body: ChampionIn, engine: EngineDep
) -> ModelsOut:
    """Make this version the one scoring uses by default; returns the versions. Unless it is
    significantly better than the champion (core.ml.challenger), give a `reason`: 409
    without one. The change is kept in `GET /models/champion/history`."""
    version = _version(body.version)
    _info(engine, version)
    try:
        set_champion(engine, version, reason=body.reason, actor=actor)
    except ChampionError as exc:
        raise Problem(409, str(exc), [{"field": "reason", "message": str(exc)}]) from None
    return models(engine)
