"""Portfolio scoring benchmark: the portfolio job on 1 and on 2 RQ workers, in one run
against a baseline that stores nothing.

    PYTHONPATH=. python bench/portfolio.py [--database-url URL] [--redis-url URL]
        [--clients 1000000] [--model lightgbm] [--workers 1,2]

The database (BENCH_PORTFOLIO_DATABASE_URL, default
postgresql://root@127.0.0.1:5432/credit_portfolio_bench; created when missing) gets
`--clients` synthetic clients unless it holds that many already (`python -m core load
--synthetic N`), and a model trained on 5,000 of them as champion. Then:

- baseline: pandas reads the same clients through the one pivot in one process and the
  compiled predictor scores them; nothing is written;
- the portfolio job (core.portfolio) with 1, then 2 `python -m core worker` RQ workers:
  every client read in chunks, scored, each declined client (at --threshold, default 0.5)
  explained into reason codes as the Score form explains one client (SHAP for trees),
  written by COPY, the summary computed; wall time from submit until the run is seen
  finished.

Prints wall time and clients/s of each against the baseline. Redis: BENCH_REDIS_URL
(default redis://127.0.0.1:6379/15), flushed before and after.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import redis
from benchmodel import save
from rq import Worker
from sqlalchemy import func, select, text

from benchdb import ensure_database
from benchfigures import Figures, add_json_option
from core import jobs, portfolio
from core.data.features import features_query
from core.db.engine import connect, make_engine, migrate
from core.db.schema import Client
from core.ml.registry import list_versions, set_champion
from core.serving.scoring import get_model
from core.vocabulary import FEATURES, ID, TARGET

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/credit_portfolio_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def clients_loaded(engine) -> int:
    with connect(engine) as connection:
        return connection.scalar(select(func.count()).select_from(Client))


def load(url: str, clients: int) -> None:
    print(f"loading {clients:,} synthetic clients ...", flush=True)
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_LONG_STATEMENT_TIMEOUT": "7200"}
    subprocess.run(
        [sys.executable, "-m", "core", "load", "--synthetic", str(clients)], env=env, check=True
    )


def champion(engine, model_id: str) -> str:
    """A model trained on 5,000 of the loaded clients, registered as champion."""
    from pycaret.classification import create_model, finalize_model, setup

    version = f"{len(list_versions(engine)) + 1}.0"
    statement = features_query(limit=5_000)
    with connect(engine) as connection:
        rows = connection.execute(statement).all()
    frame = pd.DataFrame.from_records(rows, columns=[ID, *FEATURES, TARGET]).fillna(0)
    setup(data=frame.drop(columns=[ID]), target=TARGET, session_id=1, html=False,
          verbose=False, n_jobs=1)  # fmt: skip
    pipeline = finalize_model(create_model(model_id, cross_validation=False, verbose=False))
    save(engine, version, model_id, pipeline)
    set_champion(engine, version, reason="benchmark: the model just trained")
    return version


def baseline(engine, version: str) -> tuple[float, int]:
    """pandas read of the pivot + the compiled predictor, one process, nothing stored."""
    model = get_model(engine, version)
    started = time.perf_counter()
    with connect(engine, long=True) as connection:
        frame = pd.read_sql(features_query(), connection)
    values = frame[FEATURES].fillna(0).to_numpy(dtype=float)
    probabilities = model.predict(values)
    seconds = time.perf_counter() - started
    assert len(probabilities) == len(frame) and np.isfinite(probabilities).all()
    return seconds, len(frame)


def start_workers(url: str, redis_url: str, count: int) -> list[subprocess.Popen]:
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "core", "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        for _ in range(count)
    ]


def stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)


def empty_runs(engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE portfolio_scores, portfolio_runs"))


def job(
    engine, url: str, redis_url: str, workers: int, threshold: float
) -> tuple[float, portfolio.Run]:
    """Submit a run with `workers` RQ workers listening; seconds until it is finished."""
    empty_runs(engine)
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    processes = start_workers(url, redis_url, workers)
    try:
        runner = jobs.RqRunner(connection, jobs.queue_name(engine))
        queue = jobs.training_queue(runner.queue, connection)
        while Worker.count(queue=queue) < workers:
            time.sleep(0.2)
        started = time.perf_counter()
        run_id = portfolio.submit(engine, runner, threshold=threshold)
        while (run := portfolio.get_run(engine, run_id)).active:
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        stop_workers(processes)
        connection.flushdb()
    if run.state != "finished":
        raise SystemExit(f"run {run_id} {run.state}: {run.error}")
    return seconds, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_PORTFOLIO_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument("--clients", type=int, default=1_000_000)
    parser.add_argument("--model", default="lightgbm")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument(
        "--threshold", type=float, default=0.5, help="decline at or above (reasons: declined)"
    )
    add_json_option(parser)
    args = parser.parse_args()

    ensure_database(args.database_url)
    engine = make_engine(args.database_url, statement_timeout=600)
    migrate(engine)
    if clients_loaded(engine) < args.clients:
        load(args.database_url, args.clients)
    clients = clients_loaded(engine)
    version = champion(engine, args.model)
    print(f"{clients:,} clients, model {args.model} as version {version}, "
          f"{os.cpu_count()} cores", flush=True)  # fmt: skip

    figures = Figures("portfolio")
    seconds, rows = baseline(engine, version)
    base_rate = rows / seconds
    print(f"baseline (pandas read + predict, nothing stored): {seconds:6.1f} s  "
          f"{base_rate:>9,.0f} clients/s", flush=True)  # fmt: skip
    for workers in [int(n) for n in args.workers.split(",")]:
        seconds, run = job(engine, args.database_url, args.redis_url, workers, args.threshold)
        rate = run.clients_done / seconds
        summary = run.summary
        print(
            f"portfolio job, {workers} RQ worker(s), {len(run.parts)} part(s): {seconds:6.1f} s  "
            f"{rate:>9,.0f} clients/s  ({rate / base_rate:.2f}x the baseline's rate; "
            f"declined at {args.threshold:.0%} with reasons {summary['decisions']['decline']:,}, "
            f"expected loss NT$ {summary['expected_loss']:,.0f})",
            flush=True,
        )
        figures.add(f"portfolio job with reasons, {clients:,} clients, threshold "
                    f"{args.threshold:g}, {workers} RQ worker(s)",
                    seconds, "s", "< 120", baseline=rows / base_rate,
                    baseline_what="pandas read + predict, nothing stored")  # fmt: skip
    figures.write(args.json)
    engine.dispose()


if __name__ == "__main__":
    main()
