"""The FastAPI application: `uvicorn api.app:app`, or `python -m api`."""

from fastapi import FastAPI

from api import errors
from api.routes import clients, health, hits, jobs, models, predict, train

DESCRIPTION = """
Credit-default analytics over HTTP: client lookups, average ages, the training frame,
training jobs, model versions and predictions. The old app's paths work as they did.

Errors are JSON with a plain `detail`; 422s also list each bad field in `errors`. A database
or Redis that does not answer gives 503 with the reason.
"""


def create_app() -> FastAPI:
    """The API with every route and the error handlers; settings are read per request."""
    app = FastAPI(title="Credit default API", version="1.0", description=DESCRIPTION)
    for module in (hits, health, clients, train, jobs, models, predict):
        app.include_router(module.router)
    errors.install(app)
    return app


app = create_app()
