"""Ingest benchmark: our COPY load against the seed's row-by-row ORM inserts, in one run.

    python bench/ingest.py [--database-url URL] [--synthetic 1000000] [--csv PATH]

Uses (and empties) the Postgres database BENCH_DATABASE_URL, default
postgresql://root@127.0.0.1:5432/credit_bench (created when missing).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from benchdb import fresh_database
from benchfigures import Figures, add_json_option
from core.data.dataset import parse_csv, validate_frame
from core.data.loader import load_file, load_frame
from core.data.synthetic import synthetic
from core.db.schema import Client, Payment
from core.vocabulary import BILLS, PAID, STATUS

DEFAULT_URL = "postgresql://root@127.0.0.1:5432/credit_bench"
DEFAULT_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "credit.csv"


def clear(engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE payments, clients, dataset"))


def orm_row_by_row(engine, data: bytes) -> None:
    """The seed's way: one ORM object per client and per month, added one at a time."""
    frame = parse_csv(data)
    with Session(engine) as session:
        for row in frame.itertuples(index=False):
            values = row._asdict()
            session.add(
                Client(
                    id=values["ID"],
                    limit_bal=values["LIMIT_BAL"],
                    sex=values["SEX"],
                    education=values["EDUCATION"],
                    marriage=values["MARRIAGE"],
                    age=values["AGE"],
                    defaulted=bool(values["default"]),
                )
            )
            for month, (status, bill, paid) in enumerate(
                zip(STATUS, BILLS, PAID, strict=True), start=1
            ):
                session.add(
                    Payment(
                        client_id=values["ID"],
                        month=month,
                        status=values[status],
                        bill_amt=values[bill],
                        pay_amt=values[paid],
                    )
                )
            session.flush()
        session.commit()


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--csv", default=os.environ.get("CREDIT_DATA", str(DEFAULT_CSV)))
    parser.add_argument("--synthetic", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    add_json_option(parser)
    args = parser.parse_args()
    figures = Figures("ingest")

    engine = fresh_database(args.database_url)
    data = Path(args.csv).read_bytes()

    copy_times = []
    for _ in range(args.repeat):
        clear(engine)
        copy_times.append(timed(lambda: load_file(engine, data, args.csv)))
    ours = statistics.median(copy_times)
    clear(engine)
    seed = timed(orm_row_by_row, engine, data)

    print("real file, 24,000 clients + 144,000 payment rows into Postgres:")
    print(f"  ours (validate + COPY, median of {args.repeat}): {ours:6.2f} s  (target < 2 s)")
    print(f"  seed (ORM objects row by row):          {seed:6.2f} s")
    print(f"  ratio seed / ours:                      {seed / ours:6.1f}x (target >= 10x)")
    figures.add(
        "real file into Postgres, 24,000 clients: validate + COPY",
        ours,
        "s",
        "< 2",
        "ratio >= 10",
        baseline=seed,
        baseline_what="the seed's ORM objects row by row",
    )

    started = time.perf_counter()
    frame = validate_frame(synthetic(args.synthetic))
    load_frame(engine, frame, "synthetic", replace=True)
    big = time.perf_counter() - started
    print(
        f"{args.synthetic:,} synthetic clients (generate + validate + COPY, replace): "
        f"{big:.1f} s (target < 90 s)"
    )
    figures.add(
        f"{args.synthetic:,} synthetic clients: generate + validate + COPY", big, "s", "< 90"
    )
    figures.write(args.json)
    engine.dispose()


if __name__ == "__main__":
    main()
