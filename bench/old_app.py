"""The old app's way of serving a prediction, for bench/api.py to measure beside ours.

Per request it reads the champion's pickle from the database, unpickles it and calls
PyCaret's predict_model on a one-row frame, as PyCaret's generated API and the seed app did.
Served by uvicorn like the real API: `uvicorn old_app:app --app-dir bench`.
"""

from __future__ import annotations

import os
import pickle

import pandas as pd
from fastapi import FastAPI
from sqlalchemy import select

from core.db.engine import get_engine
from core.db.schema import ModelVersion

app = FastAPI(title="The old app's predictions")


@app.post("/predict/realtime/")
def realtime(client: dict) -> dict:
    from pycaret.classification import predict_model

    engine = get_engine(os.environ["DATABASE_URL"])
    with engine.connect() as connection:
        artifact = connection.scalar(
            select(ModelVersion.artifact).where(ModelVersion.is_champion.is_(True))
        )
    scored = predict_model(pickle.loads(artifact), data=pd.DataFrame([client]), verbose=False)
    return {
        "probability": float(scored["prediction_score"].iloc[0]),
        "label": int(scored["prediction_label"].iloc[0]),
    }
