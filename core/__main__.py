"""Command line: `python -m core COMMAND ...`; each command sets its own handler."""

from __future__ import annotations

import argparse
import logging
import sys

from tqdm import tqdm

from core.cache import get_store, invalidate
from core.config import SettingsError, get_settings
from core.dataset import DataError, validate_frame
from core.db import DatabaseError, get_engine
from core.loader import SourceError, find_source, load_file, load_frame, read_source, synthetic
from core.status import data_status

# Failures that end a command with a one-line message instead of a traceback.
EXPECTED_ERRORS = (SettingsError, SourceError, DatabaseError, ValueError)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_load_command(commands)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.handler(args)
    except DataError as exc:
        print(f"error: the data has problems, nothing was written:\n{exc}", file=sys.stderr)
        return 1
    except EXPECTED_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def add_load_command(commands) -> None:
    load = commands.add_parser("load", help="load the credit data set into the database")
    load.add_argument(
        "--csv",
        help="path or URL of a data file (default: CREDIT_DATA, the cached copy under data/, "
        "then a download)",
    )
    load.add_argument("--replace", action="store_true", help="swap the whole data set")
    load.add_argument("--synthetic", type=int, metavar="N", help="load N made-up clients")
    load.add_argument(
        "--if-empty", action="store_true", help="do nothing when the database has clients"
    )
    load.set_defaults(handler=run_load)


def run_load(args) -> int:
    settings = get_settings()
    engine = get_engine(settings.database_url)
    if args.if_empty and not data_status(engine).empty:
        print("the database already has data; nothing loaded")
        return 0
    with tqdm(total=0, unit="rows", unit_scale=True, desc="loading", disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        if args.synthetic:
            frame = validate_frame(synthetic(args.synthetic))
            source = f"synthetic ({args.synthetic:,} clients)"
            result = load_frame(engine, frame, source, replace=args.replace, progress=progress)
        else:
            source = find_source(args.csv, settings.credit_data)
            print(f"reading {source}")
            data = read_source(source)
            result = load_file(engine, data, source, replace=args.replace, progress=progress)
    invalidate(get_store(settings.redis_url))
    print(
        f"loaded {result.clients:,} clients and {result.payments:,} payment rows "
        f"from {result.source} in {result.seconds:.1f} s (data version {result.version})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
