"""Scoring benchmark: our cached predict_proba path against predict_model, in one run.

    python bench/scoring.py [--database-url URL] [--models lr,dt] [--requests 300]

Trains small PyCaret models on 5,000 real rows, registers them in the database
BENCH_SCORING_DATABASE_URL (default postgresql://root@127.0.0.1:5432/credit_scoring_bench,
dropped and recreated; a sqlite:/// URL works too), then measures for one client:

- ours: core.scoring.score (validation, sha256 lookup, cached pipeline, predict_proba);
- predict_model on the same, already loaded pipeline;
- the seed's way: read the pickle from the database, unpickle, predict_model, per request;

and the batch path for 100,000 clients: parse + validate a CSV, score, and log.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
from benchmodel import save
from sqlalchemy import select

from benchdb import fresh_database
from benchfigures import Figures, add_json_option
from core.data.dataset import parse_csv
from core.db.schema import ModelVersion
from core.serving.scoring import get_model, score, score_file
from core.vocabulary import FEATURES, ID

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/credit_scoring_bench"
DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "credit.csv"
BATCH_ROWS = 100_000


def train(frame: pd.DataFrame, model_ids: list[str]) -> dict:
    from pycaret.classification import create_model, finalize_model, setup

    sample = frame.drop(columns=[ID]).sample(5_000, random_state=1)
    setup(data=sample, target="default", session_id=1, html=False, verbose=False, n_jobs=1)
    return {
        model_id: finalize_model(create_model(model_id, cross_validation=False, verbose=False))
        for model_id in model_ids
    }


def latencies(function, clients: list, requests: int) -> list[float]:
    """Seconds per call of `function(client)`, after three warm-up calls."""
    for client in clients[:3]:
        function(client)
    times = []
    for i in range(requests):
        client = clients[i % len(clients)]
        started = time.perf_counter()
        function(client)
        times.append(time.perf_counter() - started)
    return times


def p50(times: list[float]) -> float:
    return statistics.median(times)


def p95(times: list[float]) -> float:
    return float(np.percentile(times, 95))


def single_client(
    engine, version: str, pipeline, clients: list[dict], requests: int, figures: Figures
) -> None:
    from pycaret.classification import predict_model

    slow_requests = max(10, requests // 10)
    frames = [pd.DataFrame([c], columns=FEATURES) for c in clients]

    def seed_way(frame):
        with engine.connect() as connection:
            artifact = connection.scalar(
                select(ModelVersion.artifact).where(ModelVersion.version == version)
            )
        return predict_model(pickle.loads(artifact), data=frame, verbose=False)

    ours = latencies(lambda c: score(engine, c, version=version), clients, requests)
    logged = latencies(lambda c: score(engine, c, version=version, source="api"), clients, requests)
    direct = latencies(lambda f: predict_model(pipeline, data=f, verbose=False), frames,
                       slow_requests)  # fmt: skip
    seed = latencies(seed_way, frames, slow_requests)
    row = "  {:<52} p50 {:8.2f} ms   p95 {:8.2f} ms"
    print(row.format("ours: score() (validate, sha256 lookup, predict_proba)", *_ms(ours)))
    print(row.format("ours + writing the prediction log row", *_ms(logged)))
    print(row.format("predict_model on the same loaded pipeline", *_ms(direct)))
    print(row.format("seed: unpickle from the database + predict_model", *_ms(seed)))
    print(
        f"  ratio predict_model / ours: {p50(direct) / p50(ours):6.1f}x (target >= 30x)   "
        f"seed / ours: {p50(seed) / p50(ours):6.1f}x (target >= 30x)"
    )
    model = figures_label(engine, version)
    for baseline, named in (
        (direct, "predict_model on the same loaded pipeline"),
        (seed, "the seed: unpickle from the database + predict_model"),
    ):
        figures.add(f"one client scored, p50, {model}", p50(ours) * 1000, "ms", "ratio >= 30",
                    baseline=p50(baseline) * 1000, baseline_what=named)  # fmt: skip


def figures_label(engine, version: str) -> str:
    return f"version {version}, {engine.url.get_backend_name()}"


def _ms(times: list[float]) -> tuple[float, float]:
    return p50(times) * 1000, p95(times) * 1000


def batch(engine, version: str, frame: pd.DataFrame, figures: Figures) -> None:
    repeats = -(-BATCH_ROWS // len(frame))
    big = pd.concat([frame] * repeats, ignore_index=True).iloc[:BATCH_ROWS]
    big[ID] = np.arange(1, len(big) + 1)
    data = big.to_csv(index=False).encode()
    model = get_model(engine, version)

    started = time.perf_counter()
    parsed = parse_csv(data, require_target=False)
    parse_seconds = time.perf_counter() - started
    started = time.perf_counter()
    model.probabilities(parsed)
    proba_seconds = time.perf_counter() - started
    started = time.perf_counter()
    score_file(engine, data, version=version, source=None)
    file_seconds = time.perf_counter() - started
    started = time.perf_counter()
    score_file(engine, data, version=version, source="batch")
    logged_seconds = time.perf_counter() - started
    rate = BATCH_ROWS / file_seconds
    print(f"  parse + validate the CSV:              {parse_seconds:6.2f} s")
    print(f"  predict_proba on the validated frame:  {proba_seconds:6.2f} s")
    print(f"  score_file (parse, validate, score):   {file_seconds:6.2f} s  ({rate:,.0f} rows/s)")
    print(f"  score_file + log every row (one txn):  {logged_seconds:6.2f} s  (target < 5 s)")
    figures.add(
        f"{BATCH_ROWS:,} clients in a CSV scored and logged, {figures_label(engine, version)}",
        logged_seconds,
        "s",
        "< 5",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_SCORING_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--csv", default=os.environ.get("CREDIT_DATA", str(DEFAULT_CSV)))
    parser.add_argument("--models", default="lr,dt", help="PyCaret model ids, comma-separated")
    parser.add_argument("--requests", type=int, default=300, help="single-client requests")
    add_json_option(parser)
    args = parser.parse_args()
    figures = Figures("scoring")

    frame = parse_csv(Path(args.csv).read_bytes())
    model_ids = args.models.split(",")
    pipelines = train(frame, model_ids)
    engine = fresh_database(args.database_url)
    clients = [
        {name: int(v) for name, v in zip(FEATURES, row, strict=True)}
        for row in frame[FEATURES].iloc[:200].itertuples(index=False)
    ]
    backend = engine.url.get_backend_name()
    for number, model_id in enumerate(model_ids):
        version = f"1.{number}"
        save(engine, version, model_id, pipelines[model_id])
        print(f"one client, model {model_id} (version {version}), {backend}:")
        single_client(engine, version, pipelines[model_id], clients, args.requests, figures)
        print(f"{BATCH_ROWS:,} clients in a CSV, model {model_id}, {backend}:")
        batch(engine, version, frame.drop(columns=[ID]), figures)
    figures.write(args.json)
    engine.dispose()


if __name__ == "__main__":
    main()
