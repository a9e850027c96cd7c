"""Load the credit data set into the database: one transaction, all or nothing."""

from __future__ import annotations

import hashlib
import logging
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from core.data.dataset import DataError, Problem, parse_csv
from core.db.bulk import write_rows
from core.db.engine import DatabaseError, describe_error, migrate
from core.db.schema import Client, Dataset, Load, Payment
from core.db.timeouts import allow_long_statements, long_statement_timeout
from core.settings import DATA_DIR
from core.vocabulary import BILLS, ID, PAID, STATUS, TARGET

log = logging.getLogger(__name__)

DOWNLOAD_URL = "https://raw.githubusercontent.com/pycaret/datasets/main/data/common/credit.csv"
DOWNLOAD_SHA256 = "0f2c8fcc66e1f90e5fa79b92df18c0a67f8c7c4ec1eabbc4fd256438bcc608bf"
CACHED_COPY = DATA_DIR / "credit.csv"

Progress = Callable[[int, int], None]


class SourceError(RuntimeError):
    """No data source could be read; the message says which were tried."""


@dataclass(frozen=True)
class LoadResult:
    """What one load did (`clients_added`, `clients_updated`, `payments_written`) and the
    database's totals after it (`clients`, `payments`)."""

    source: str
    clients: int
    payments: int
    version: int
    seconds: float
    clients_added: int
    clients_updated: int
    payments_written: int
    replaced: bool = False

    def report(self) -> str:
        """One sentence: what the load changed, then what the database now holds."""
        replaced = " (the whole data set was replaced)" if self.replaced else ""
        return (
            f"{self.source}: {self.clients_added:,} clients added, {self.clients_updated:,} "
            f"updated, {self.payments_written:,} payment rows written{replaced} in "
            f"{self.seconds:.1f} s. The database now holds {self.clients:,} clients and "
            f"{self.payments:,} payment rows (data version {self.version})."
        )


def find_source(csv: str | None, credit_data: str | None) -> str:
    """The first usable source: --csv, CREDIT_DATA, the cached copy, else the download URL."""
    for candidate in (csv, credit_data):
        if candidate:
            return candidate
    if CACHED_COPY.exists():
        return str(CACHED_COPY)
    return DOWNLOAD_URL


def read_source(location: str) -> bytes:
    """The bytes of a local file or URL; a download is checked against its sha256 and cached."""
    if location.startswith(("http://", "https://")):
        return _download(location)
    path = Path(location).expanduser()
    if not path.is_file():
        raise SourceError(f"no data file at {path}; pass --csv PATH or --synthetic N")
    return path.read_bytes()


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            data = response.read()
    except OSError as exc:
        raise SourceError(
            f"could not download {url} ({exc}); pass --csv PATH to a copy of the data, "
            "set CREDIT_DATA, or use --synthetic N"
        ) from None
    if url == DOWNLOAD_URL:
        digest = hashlib.sha256(data).hexdigest()
        if digest != DOWNLOAD_SHA256:
            raise SourceError(f"{url} has sha256 {digest}, expected {DOWNLOAD_SHA256}")
        CACHED_COPY.parent.mkdir(parents=True, exist_ok=True)
        CACHED_COPY.write_bytes(data)
    return data


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The canonical wide frame as `clients` rows and long `payments` rows (six per client)."""
    clients = pd.DataFrame(
        {
            "id": frame[ID].to_numpy(),
            "limit_bal": frame["LIMIT_BAL"].to_numpy(),
            "sex": frame["SEX"].to_numpy(),
            "education": frame["EDUCATION"].to_numpy(),
            "marriage": frame["MARRIAGE"].to_numpy(),
            "age": frame["AGE"].to_numpy(),
            "defaulted": frame[TARGET].to_numpy().astype(bool),
        }
    )
    n = len(frame)
    payments = pd.DataFrame(
        {
            "client_id": np.tile(frame[ID].to_numpy(), 6),
            "month": np.repeat(np.arange(1, 7), n),
            "status": frame[STATUS].to_numpy().T.ravel(),
            "bill_amt": frame[BILLS].to_numpy().T.ravel(),
            "pay_amt": frame[PAID].to_numpy().T.ravel(),
        }
    )
    return clients, payments


def load_file(
    engine: Engine,
    data: bytes,
    source: str,
    *,
    replace: bool = False,
    progress: Progress | None = None,
) -> LoadResult:
    """Validate a data file and load it; a bad file raises DataError and writes nothing."""
    frame = parse_csv(data)
    digest = hashlib.sha256(data).hexdigest()
    return load_frame(engine, frame, source, sha256=digest, replace=replace, progress=progress)


def load_frame(
    engine: Engine,
    frame: pd.DataFrame,
    source: str,
    *,
    sha256: str | None = None,
    replace: bool = False,
    progress: Progress | None = None,
) -> LoadResult:
    """Write a validated frame: upsert by client id, or swap the data set when `replace`.

    One transaction: on any failure nothing is written, the history included. Loading the
    same rows twice leaves the same rows. The data set's version changes, which invalidates
    cached queries, and the load is added to the history (`loads`).
    """
    started = datetime.now(UTC)
    if frame.empty:
        raise DataError([Problem("no clients to load")])
    migrate(engine)
    clients, payments = split(frame)
    tracker = _Tracker(len(clients) + len(payments), progress)
    try:
        with engine.begin() as connection:
            allow_long_statements(connection)  # COPY of a million clients
            if replace:
                _clear(connection)
            before = _counts(connection)[0]
            keys = {"clients": ["id"], "payments": ["client_id", "month"]} if before else {}
            for table, rows in (("clients", clients), ("payments", payments)):
                write_rows(
                    connection, table, rows, upsert_on=keys.get(table, []), written=tracker.advance
                )
            counts = _counts(connection)
            added = counts[0] - before
            load = _Load(source, sha256, replace, added, len(clients) - added, len(payments))
            version = _record(connection, load, counts, started)
    except SQLAlchemyError as exc:
        timeout = long_statement_timeout()
        raise DatabaseError(describe_error(engine, exc, timeout=timeout)) from exc
    seconds = (datetime.now(UTC) - started).total_seconds()
    log.info("loaded %s clients from %s in %.1f s", len(clients), source, seconds)
    return LoadResult(
        source, *counts, version, seconds, load.added, load.updated, load.payments_written, replace
    )


@dataclass(frozen=True)
class _Load:
    source: str
    sha256: str | None
    replaced: bool
    added: int
    updated: int
    payments_written: int


class _Tracker:
    def __init__(self, total: int, progress: Progress | None):
        self.total, self.done, self.progress = total, 0, progress

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.progress:
            self.progress(self.done, self.total)


def _clear(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("TRUNCATE payments, clients"))
    else:
        connection.execute(Payment.__table__.delete())
        connection.execute(Client.__table__.delete())


def _record(connection: Connection, load: _Load, counts: tuple[int, int], started) -> int:
    """Count the new data version in `dataset` and add the load to the history."""
    current = connection.scalar(select(Dataset.version).where(Dataset.id == 1))
    version = (current or 0) + 1
    source = load.source[:1000]
    clients, payments = counts
    values = dict(
        version=version,
        source=source,
        sha256=load.sha256,
        clients=clients,
        payments=payments,
        loaded_at=started,
    )
    if current is None:
        connection.execute(Dataset.__table__.insert().values(id=1, **values))
    else:
        connection.execute(Dataset.__table__.update().where(Dataset.id == 1).values(**values))
    connection.execute(
        Load.__table__.insert().values(
            **values,
            replaced=load.replaced,
            clients_added=load.added,
            clients_updated=load.updated,
            payments_written=load.payments_written,
        )
    )
    return version


def _counts(connection: Connection) -> tuple[int, int]:
    clients = connection.scalar(select(func.count()).select_from(Client))
    payments = connection.scalar(select(func.count()).select_from(Payment))
    return int(clients), int(payments)
