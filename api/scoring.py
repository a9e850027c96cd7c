"""The one place the API scores clients: through core's compiled predictors.

Every score is logged with source "api", as the form and the CLI log theirs, but through
the process's log buffer (core.serving.log_buffer): written within a second, off the
request path, and flushed when the API shuts down.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from core.auth import SYSTEM, Actor
from core.data.dataset import parse_csv
from core.serving.policy import expected_loss
from core.serving.reasons import reasons_of
from core.serving.scoring import (
    Score,
    client_values,
    explain,
    get_model,
    is_loaded,
    score,
    score_frame,
)
from core.vocabulary import FEATURES, ID, PREDICTIONS

SOURCE = "api"
log = logging.getLogger(__name__)


def preload(engine: Engine) -> None:
    """Load the default model before the first request (unpickling and verifying it takes
    seconds); nothing trained yet or a database that is down is logged, not raised."""
    try:
        model = get_model(engine)
    except Exception as exc:  # the server starts anyway; requests report the problem
        log.info("no model loaded at start: %s", exc)
        return
    log.info("model %s loaded: %s", model.version, model.serving.as_dict())


def version_warning(engine: Engine, version: str) -> str | None:
    """The miscalibration warning of a version just scored with (its loaded model holds it:
    nothing is read), or None when it is calibrated or was never checked."""
    return get_model(engine, version).warning


def score_client(
    engine: Engine,
    client: dict[str, Any],
    version: str | None,
    threshold: float | None,
    actor: Actor = SYSTEM,
) -> Score:
    """One client's score; InputError names every bad field."""
    return score(
        engine,
        client,
        version=version,
        threshold=threshold,
        source=SOURCE,
        buffered=True,
        actor=actor,
    )


def decision(
    engine: Engine, client: dict[str, Any], result: Score, with_reasons: bool, actor: Actor
) -> dict:
    """What the realtime route adds to a score: where the threshold came from, the
    expected loss and, when asked for, the reason codes (an explanation: slower)."""
    values = dict(zip(FEATURES, client_values(client), strict=True))
    fields = {
        "threshold_source": result.threshold_source,
        "expected_loss": expected_loss(engine, result.version, result.probability, values),
    }
    if with_reasons:
        found = reasons_of(explain(engine, values, result.version, actor=actor))
        fields["reasons"] = [reason.as_dict() for reason in found.reasons]
        fields["protected_note"] = found.protected_note
    return fields


def scores_inline(engine: Engine, version: str | None) -> bool:
    """Whether one client can be scored on the event loop: the model is loaded and nothing
    is read from the database (a score then costs a fraction of a millisecond). Otherwise
    the route scores in a thread, so a model being loaded never blocks the loop."""
    return is_loaded(engine, version)


def score_records(
    engine: Engine,
    records: list[dict],
    version: str | None,
    threshold: float | None,
    actor: Actor = SYSTEM,
) -> pd.DataFrame:
    """Scores of a JSON list of clients; DataError names line (item + 2) and column."""
    frame = pd.DataFrame.from_records(records)
    return score(
        engine,
        frame,
        version=version,
        threshold=threshold,
        source=SOURCE,
        buffered=True,
        actor=actor,
    )


def read_csv(data: bytes) -> pd.DataFrame:
    """A CSV of clients validated (any of the loader's headers, target optional)."""
    return parse_csv(data, require_target=False)


def score_clients(
    engine: Engine,
    frame: pd.DataFrame,
    version: str | None,
    threshold: float | None,
    actor: Actor = SYSTEM,
) -> pd.DataFrame:
    """Scores of clients already validated by read_csv."""
    return score_frame(engine, frame, version, threshold, SOURCE, buffered=True, actor=actor)


def predictions(results: pd.DataFrame) -> list[dict]:
    """ID, probability, label and label text of each scored client, in input order."""
    labels = results["label"].to_numpy()
    texts = [PREDICTIONS[int(label)] for label in labels]
    return [
        {"ID": int(i), "probability": float(p), "label": int(label), "label_text": text}
        for i, p, label, text in zip(
            results[ID].to_numpy(), results["probability"].to_numpy(), labels, texts, strict=True
        )
    ]
