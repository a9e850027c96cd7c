"""Scoring-file benchmark: peak memory and speed of `python -m core score --csv` on a big file.

    python bench/scoring_file.py [--database-url URL] [--rows 1000000] [--no-baseline]

Trains a small logistic regression (PyCaret, 5,000 real rows) into the database
BENCH_SCORING_FILE_DATABASE_URL (default postgresql://root@127.0.0.1:5432/
credit_scoring_file_bench, dropped and recreated; a sqlite:/// URL works too), writes a
synthetic scoring file of `--rows` clients (core.data.synthetic, no target column), then
scores it through the CLI in a subprocess, which streams it in chunks, and reports the
child's peak RSS and rows per second. The baseline, in the same run: the whole file read
into memory and scored at once (core.serving.scoring.score_file, as the CLI did before),
also in a subprocess. Target: streaming peak RSS under 500 MB for 1,000,000 rows.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from benchmodel import save, train

from benchdb import fresh_database
from benchfigures import Figures, add_json_option
from core.data.dataset import parse_csv
from core.data.synthetic import synthetic
from core.vocabulary import TARGET

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://root@127.0.0.1:5432/credit_scoring_file_bench"
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "credit.csv"
TARGET_MB = 500
# What the CLI did before it streamed: the whole file in memory, scored, then written.
IN_MEMORY = """
import sys
from pathlib import Path
from core.db.engine import get_engine
from core.serving.scoring import score_file
from core.settings import get_settings
engine = get_engine(get_settings().database_url)
results = score_file(engine, Path(sys.argv[1]).read_bytes(), version="1.0", source="cli")
results.to_csv(sys.argv[2], index=False)
"""


def run_child(command: list[str], database_url: str) -> tuple[float, float]:
    """Run `command` in a child process; its wall seconds and peak RSS in MB.

    Each measured child runs under its own `python -c` wrapper, so the peak belongs to it
    alone (RUSAGE_CHILDREN reports the largest child waited for so far)."""
    wrapper = (
        "import resource, subprocess, sys;"
        "done = subprocess.run(sys.argv[1:]);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss);"
        "sys.exit(done.returncode)"
    )
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed with {done.returncode}")
    peak_kb = int(done.stdout.strip().splitlines()[-1])
    return seconds, peak_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_SCORING_FILE_DATABASE_URL", DEFAULT_URL),
    )
    parser.add_argument("--csv", default=os.environ.get("CREDIT_DATA", str(DEFAULT_CSV)))
    parser.add_argument("--rows", type=int, default=1_000_000, help="clients in the file")
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the in-memory run (about 3 GB)"
    )
    add_json_option(parser)
    args = parser.parse_args()
    figures = Figures("scoring_file")

    engine = fresh_database(args.database_url)
    url = engine.url.render_as_string(hide_password=False)
    save(engine, "1.0", "lr", train(parse_csv(Path(args.csv).read_bytes()), "lr"))
    engine.dispose()

    with tempfile.TemporaryDirectory(prefix="scoring-file-") as folder:
        source = Path(folder) / "clients.csv"
        synthetic(args.rows).drop(columns=[TARGET]).to_csv(source, index=False)
        size_mb = source.stat().st_size / 2**20
        print(f"{args.rows:,} clients, {size_mb:,.1f} MB, {engine.url.get_backend_name()}")

        out = Path(folder) / "scored.csv"
        command = [sys.executable, "-m", "core", "score", "--csv", str(source), "--out", str(out)]
        seconds, peak = run_child([*command, "--version", "1.0"], url)
        scored = len(pd.read_csv(out, usecols=["probability"]))
        assert scored == args.rows, f"{scored:,} rows scored of {args.rows:,}"
        verdict = "met" if peak < TARGET_MB else "MISSED"
        print(
            f"streaming (CLI): peak RSS {peak:,.0f} MB (target < {TARGET_MB} MB: {verdict}), "
            f"{seconds:.1f} s, {args.rows / seconds:,.0f} rows/s"
        )
        what = f"{args.rows:,}-client file scored by the CLI, peak RSS"
        if args.no_baseline:
            figures.add(what, peak, "MB", f"< {TARGET_MB}")
            figures.write(args.json)
            return
        baseline = [sys.executable, "-c", IN_MEMORY, str(source), str(Path(folder) / "all.csv")]
        base_seconds, base_peak = run_child(baseline, url)
        print(
            f"in memory (before): peak RSS {base_peak:,.0f} MB, {base_seconds:.1f} s, "
            f"{args.rows / base_seconds:,.0f} rows/s"
        )
        print(f"memory ratio: {base_peak / peak:.1f}x less when streaming")
        figures.add(what, peak, "MB", f"< {TARGET_MB}", baseline=base_peak,
                    baseline_what="the whole file in memory (before)")  # fmt: skip
        figures.write(args.json)


if __name__ == "__main__":
    main()
