"""Choosing a champion and describing a version: the champion history, the comparison of
a challenger with the champion, and a version's model card."""

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel

from api.deps import EngineDep, allowed
from api.errors import Problem
from api.routes.models import UNAVAILABLE, VERSION_ERRORS, _version
from api.schemas import ErrorOut
from core.ml.card import model_card
from core.ml.challenger import ComparisonError, compare
from core.ml.registry import VersionError, champion_history, default_version

router = APIRouter(prefix="/models", tags=["models"])


class ChampionChangeOut(BaseModel):
    version: str
    previous: str | None
    reason: str
    actor: str
    at: datetime


@router.get(
    "/champion/history",
    summary="Every change of champion",
    response_model=list[ChampionChangeOut],
    responses=UNAVAILABLE,
    dependencies=[Depends(allowed("view_models"))],
)
def history(engine: EngineDep, limit: int = Query(100, ge=1, le=1_000)) -> list[dict]:
    """The newest changes first: the new champion, the one it replaced, the reason given,
    who made the change and when (UTC)."""
    return [asdict(change) for change in champion_history(engine, limit)]


@router.get(
    "/{version}/card",
    summary="A version's model card",
    response_class=PlainTextResponse,
    responses={
        **VERSION_ERRORS,
        200: {"content": {"text/markdown": {}, "text/html": {}}, "description": "the card"},
    },
    dependencies=[Depends(allowed("view_models"))],
)
def card(
    version: str, engine: EngineDep, format: Literal["md", "html"] = "md"
) -> PlainTextResponse:
    """Intended use and limits, data, training, metrics, calibration, fairness, feature
    importance, champion history and checksum, generated from the registry: Markdown
    (`format=md`) or a standalone HTML page (`format=html`)."""
    version = _version(version)
    try:
        text = model_card(engine, version, format)
    except VersionError as exc:
        raise Problem(404, str(exc)) from None
    if format == "html":
        return HTMLResponse(text)
    return PlainTextResponse(text, media_type="text/markdown; charset=utf-8")


@router.get(
    "/{version}/comparison",
    summary="A challenger against the champion",
    responses={
        **VERSION_ERRORS,
        409: {"model": ErrorOut, "description": "no champion, or the two cannot be compared"},
    },
    dependencies=[Depends(allowed("view_models"))],
)
def comparison(version: str, engine: EngineDep, champion: str | None = None) -> dict:
    """`version` against the champion (or `champion`) on the same holdout clients and on
    the recent scored window: AUC intervals, the difference's interval and the verdict,
    Brier, KS, calibration curves, fairness ratios and the swap set."""
    version = _version(version)
    against = _version(champion) if champion is not None else default_version(engine)
    if against is None:
        raise Problem(409, "there is no model version to compare with")
    try:
        return compare(engine, version, against).as_dict()
    except VersionError as exc:
        raise Problem(404, str(exc)) from None
    except ComparisonError as exc:
        raise Problem(409, str(exc)) from None
