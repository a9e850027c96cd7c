"""The FastAPI application: `uvicorn api.app:app`, or `python -m api`."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from api import errors, scoring
from api.bodies import BodyLimit
from api.deps import AUTH_ERRORS, current_engine
from api.routes import (
    cards,
    clients,
    health,
    hits,
    jobs,
    models,
    monitoring,
    portfolio,
    predict,
    train,
)
from core.serving.log_buffer import prediction_log

DESCRIPTION = """
Credit-default analytics over HTTP: client lookups, average ages, the training frame,
training jobs, model versions and predictions. The old app's paths work as they did.

Errors are JSON with a plain `detail`; 422s also list each bad field in `errors`. A database
or Redis that does not answer gives 503 with the reason.

Once a user exists, every endpoint but `/health`, `/ready` and these docs needs an API key
(`python -m core users key NAME`), sent as `Authorization: Bearer KEY` or `X-API-Key: KEY`:
401 without a live key, 403 when the key's role may not (the detail names the role that
may). `GET /health` says whether access control is on.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """At start, load the default model; on shutdown, write the prediction log's waiting
    rows before the process ends."""
    try:
        engine = current_engine()
    except Exception:  # bad settings: every request reports them
        engine = None
    if engine is not None:
        await run_in_threadpool(scoring.preload, engine)
    # What is loaded now (PyCaret, pandas, the model: some 300,000 objects) lives as long as
    # the process. Frozen, the collector stops walking it: a full collection otherwise
    # pauses every request for a few hundred milliseconds.
    gc.freeze()
    yield
    await run_in_threadpool(prediction_log().close)


def create_app() -> FastAPI:
    """The API with every route and the error handlers; settings are read per request."""
    app = FastAPI(
        title="Credit default API", version="1.0", description=DESCRIPTION, lifespan=lifespan
    )
    app.include_router(health.router)
    for module in (hits, clients, train, jobs, models, cards, monitoring, predict, portfolio):
        app.include_router(module.router, responses=AUTH_ERRORS)
    errors.install(app)
    # Outermost: a body too large for its path is refused before anything reads it.
    app.add_middleware(BodyLimit, limits={"/predict/batch/": predict.MAX_BATCH_BODY_BYTES})
    return app


app = create_app()
