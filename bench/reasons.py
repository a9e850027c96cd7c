"""Reason codes for one client beside the bare score, in process, in one run.

    python bench/reasons.py [--database-url URL] [--models gbc,lr] [--requests 2000]

For each model (default gradient boosting, explained by SHAP, then logistic regression,
explained by occlusion) it trains the model on 5,000 real rows, registers it as the champion
in a fresh database (default a SQLite file in the temporary folder) and measures, alternately
for the same clients, the p50 of:

- score(): the bare score, what POST /predict/realtime/ costs without ?reasons=true;
- score() + expected_loss(): the fields the realtime route always adds;
- score() + explain() + reasons_of(): what ?reasons=true adds;
- reason_columns() on a file of 20,000 clients, per client (what scored files pay).

The ratio of the third to the first is why the API's reasons are opt-in.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd
from benchmodel import p50_ms, save, train

from benchdb import fresh_database
from benchfigures import Figures, add_json_option
from core.data.dataset import parse_csv
from core.data.loader import find_source, read_source
from core.ml.registry import set_champion
from core.serving.policy import expected_loss
from core.serving.reasons import reason_columns, reasons_of
from core.serving.scoring import explain, get_model, score
from core.vocabulary import FEATURES

FILE_ROWS = 20_000


def measure(engine, version: str, clients: list[dict], requests: int) -> dict:
    bare, with_loss, with_reasons = [], [], []
    score(engine, clients[0], version=version)  # load and warm up
    reasons_of(explain(engine, clients[0], version))
    for i in range(requests):
        client = clients[i % len(clients)]
        started = time.perf_counter()
        result = score(engine, client, version=version)
        first = time.perf_counter()
        result = score(engine, client, version=version)
        expected_loss(engine, version, result.probability, client)
        second = time.perf_counter()
        result = score(engine, client, version=version)
        reasons_of(explain(engine, client, version))
        third = time.perf_counter()
        bare.append(first - started)
        with_loss.append(second - first)
        with_reasons.append(third - second)
    return {
        "score_p50_ms": p50_ms(bare),
        "score_and_expected_loss_p50_ms": p50_ms(with_loss),
        "score_and_reasons_p50_ms": p50_ms(with_reasons),
        "reasons_over_score": statistics.median(with_reasons) / statistics.median(bare),
    }


def file_reasons(engine, version: str, frame: pd.DataFrame) -> float:
    """Microseconds per client of reason_1..reason_4 for a file."""
    model = get_model(engine, version)
    started = time.perf_counter()
    reason_columns(model, frame)
    return (time.perf_counter() - started) / len(frame) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = f"sqlite:///{Path(tempfile.gettempdir()) / 'credit_reasons_bench.db'}"
    parser.add_argument("--database-url", default=default)
    parser.add_argument("--models", default="gbc,lr")
    parser.add_argument("--requests", type=int, default=2_000)
    add_json_option(parser)
    args = parser.parse_args()
    recorded = Figures("reasons")
    frame = parse_csv(read_source(find_source(None, os.environ.get("CREDIT_DATA"))))
    clients = [
        {name: int(row[name]) for name in FEATURES}
        for _, row in frame.sample(200, random_state=2).iterrows()
    ]
    big = frame.sample(FILE_ROWS, random_state=3, replace=True)[FEATURES].reset_index(drop=True)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    for number, model_id in enumerate(args.models.split(",")):
        engine = fresh_database(args.database_url)
        version = f"1.{number}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            save(engine, version, model_id, train(frame, model_id))
            set_champion(engine, version, reason="benchmark: each model in turn")
            figures = measure(engine, version, clients, args.requests)
            figures["file_reasons_us_per_client"] = file_reasons(engine, version, big)
        method = explain(engine, clients[0], version).method.value
        print(f"{model_id} ({method}):")
        for name, value in figures.items():
            print(f"  {name}: {value:.3f}")
        recorded.add(
            f"one client scored with reasons, p50, {model_id} ({method})",
            figures["score_and_reasons_p50_ms"],
            "ms",
            baseline=figures["score_p50_ms"],
            baseline_what="the bare score",
        )
        recorded.add(
            f"reasons for a file, per client, {model_id}",
            figures["file_reasons_us_per_client"],
            "us",
        )
        engine.dispose()
    recorded.write(args.json)


if __name__ == "__main__":
    main()
