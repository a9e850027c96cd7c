"""Scoring one part of a portfolio run: the work RQ workers and the local worker do.

`score_part(engine, run_id, part)` reads the part's clients (an id range, narrowed by the
run's filters) in chunks through the one pivot (core.data.features.features_query), scores
each chunk with the version's compiled predictor (core.serving.scoring.Model.predict), gives
each declined client its reason codes (core.serving.reasons) and writes the chunk with the
shared bulk writer (COPY on Postgres), adding to the run's `clients_done` in the same
transaction. The part then adds one to `parts_done`; the part that completes the count
writes the summary and marks the run finished in that same transaction, so a run appears
complete or not at all. A worker killed midway leaves a running run whose heartbeat stops;
the reaper (core.portfolio.store.reap_stale) fails it and deletes its rows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
from sqlalchemy import Engine, and_, case, func, select, update
from sqlalchemy.orm import aliased

from core.data.features import clients, features_query, payments
from core.db.bulk import write_rows
from core.db.engine import connect, get_engine
from core.db.schema import PortfolioRun, PortfolioScore
from core.explore.filters import from_query
from core.jobs.heartbeat import heartbeat
from core.jobs.store import HEARTBEAT_SECONDS, worker_name
from core.portfolio.store import Run, get_run, mark_failed, now
from core.serving.reasons import reason_codes
from core.serving.scoring import get_model, labels
from core.settings import get_settings
from core.vocabulary import FEATURES

log = logging.getLogger(__name__)

TASK = "core.portfolio.work.run_part"
BINS = 20
CHANGES_LISTED = 100
LIMIT_COLUMN = FEATURES.index("LIMIT_BAL")
BILL_COLUMN = FEATURES.index("BILL_AMT1")


def run_part(run_id: int, part: int) -> str:
    """Score part `part` of run `run_id`; the RQ task (DATABASE_URL names the database)."""
    settings = get_settings()
    chunk = settings.portfolio_chunk_clients
    return score_part(get_engine(settings.database_url), run_id, part, chunk=chunk)


def score_run(engine: Engine, run_id: int) -> str:
    """Score every part of run `run_id` in this process (the local worker); its state."""
    state = "queued"
    chunk = get_settings().portfolio_chunk_clients
    for part in range(len(get_run(engine, run_id).parts)):
        state = score_part(engine, run_id, part, chunk=chunk)
    return state


class _Stop(Exception):
    """The run ended elsewhere (failed by a reaper): stop, keeping nothing of this chunk."""


def score_part(
    engine: Engine,
    run_id: int,
    part: int,
    *,
    chunk: int,
    on_chunk: Callable[[int], None] | None = None,
) -> str:
    """Score the clients of one part of a run and, if it is the last part to end, finish
    the run; returns the run's state afterwards. `on_chunk(clients written)` runs after
    each chunk's transaction (tests kill the process there). Any failure fails the run,
    with the reason, and deletes its scores."""
    worker = worker_name()
    run = _start(engine, run_id, worker)
    if run is None:
        return get_run(engine, run_id).state
    try:
        beat = partial(_stamp, engine, run_id, worker)
        with heartbeat(beat, HEARTBEAT_SECONDS, f"portfolio run {run_id}"):
            _score(engine, run, part, chunk, on_chunk)
            return _end_part(engine, run)
    except _Stop:
        return get_run(engine, run_id).state
    except Exception as exc:  # the run fails with the reason, whatever it was
        log.exception("portfolio run %s part %s failed", run_id, part)
        mark_failed(engine, run_id, f"scoring part {part + 1} failed: {exc}")
        return "failed"


def _start(engine: Engine, run_id: int, worker: str) -> Run | None:
    """Mark the run running (if queued) and stamp it; None when it has ended."""
    stamp = now()
    with connect(engine, write=True) as connection:
        connection.execute(
            update(PortfolioRun)
            .where(PortfolioRun.id == run_id, PortfolioRun.state == "queued")
            .values(state="running", started_at=stamp)
        )
        running = connection.execute(
            update(PortfolioRun)
            .where(PortfolioRun.id == run_id, PortfolioRun.state == "running")
            .values(heartbeat_at=stamp, worker=worker)
        ).rowcount
    return get_run(engine, run_id) if running else None


def _score(engine: Engine, run: Run, part: int, chunk: int, on_chunk) -> None:
    low, high = run.parts[part]
    model = get_model(engine, run.version)
    matching = from_query(run.filters)[0].where(clients)
    last = low - 1
    while last < high:
        with connect(engine, write=True, long=True) as connection:
            upper = _chunk_end(connection, matching, last, high, chunk)
            ids, values = _features(connection, matching, last, upper)
            if len(ids):
                probabilities = model.predict(values)
                scores = _scores(run, model, ids, values, probabilities)
                write_rows(connection, PortfolioScore.__tablename__, scores)
                _add_done(connection, run.id, len(ids))
        if on_chunk is not None and len(ids):
            on_chunk(len(ids))
        last = upper


def _chunk_end(connection, matching, last: int, high: int, chunk: int) -> int:
    """The id of the `chunk`-th matching client after `last` (at most `high`)."""
    end = connection.scalar(
        select(clients.c.id)
        .where(matching, clients.c.id > last, clients.c.id <= high)
        .order_by(clients.c.id)
        .offset(chunk - 1)
        .limit(1)
    )
    return high if end is None else int(end)


def _features(connection, matching, last: int, upper: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and float features of the matching clients with ids in (last, upper]; a
    missing month reads as 0, as core.data.features does for scoring a loaded client.

    Both tables are bounded by the id range, so Postgres reads the payments of these
    clients by index rather than every payment; rows come as the driver's tuples (far
    cheaper to turn into an array than result rows).
    """
    query = features_query(
        and_(
            matching,
            clients.c.id > last,
            clients.c.id <= upper,
            payments.c.client_id > last,
            payments.c.client_id <= upper,
        )
    )
    options = {"render_postcompile": True}  # IN lists as plain parameters
    compiled = query.compile(dialect=connection.dialect, compile_kwargs=options)
    parameters = compiled.params
    if compiled.positional:
        parameters = tuple(parameters[name] for name in compiled.positiontup)
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(str(compiled), parameters)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    if not rows:
        return np.array([], dtype=np.int64), np.empty((0, len(FEATURES)))
    table = np.array(rows, dtype=float)
    values = np.nan_to_num(table[:, 1 : 1 + len(FEATURES)], nan=0.0)
    return table[:, 0].astype(np.int64), values


def _scores(run: Run, model, ids, values, probabilities) -> pd.DataFrame:
    """The rows of one chunk; declined clients get their reason codes (computed as scoring
    the client alone computes them), approved ones none: reasons are owed to the declined."""
    declined = labels(probabilities, run.threshold)
    reasons = np.full(len(ids), None, dtype=object)
    chosen = np.flatnonzero(declined == 1)
    if len(chosen):
        frame = pd.DataFrame(values[chosen], columns=FEATURES)
        reasons[chosen] = reason_codes(model, frame)
    return pd.DataFrame(
        {
            "run_id": run.id,
            "client_id": ids,
            "probability": probabilities,
            "label": declined,
            "expected_loss": probabilities * run.lgd * _exposure(run, values),
            "reasons": reasons,
        }
    )


def _exposure(run: Run, values: np.ndarray) -> np.ndarray:
    """Each client's exposure at default on the run's basis (core.serving.decisions)."""
    if run.exposure == "limit":
        return values[:, LIMIT_COLUMN]
    return np.maximum(values[:, BILL_COLUMN], 0.0)


def _add_done(connection, run_id: int, count: int) -> None:
    added = connection.execute(
        update(PortfolioRun)
        .where(PortfolioRun.id == run_id, PortfolioRun.state == "running")
        .values(clients_done=PortfolioRun.clients_done + count)
    ).rowcount
    if not added:
        raise _Stop  # rolls this chunk back


def _end_part(engine: Engine, run: Run) -> str:
    """Count this part done; the part that completes the count finishes the run."""
    with connect(engine, write=True, long=True) as connection:
        # The update locks the run's row: parts ending together count one after another.
        counted = connection.execute(
            update(PortfolioRun)
            .where(PortfolioRun.id == run.id, PortfolioRun.state == "running")
            .values(parts_done=PortfolioRun.parts_done + 1)
        ).rowcount
        if not counted:
            raise _Stop
        done = connection.scalar(select(PortfolioRun.parts_done).where(PortfolioRun.id == run.id))
        if done < len(run.parts):
            return "running"
        connection.execute(
            update(PortfolioRun)
            .where(PortfolioRun.id == run.id)
            .values(state="finished", finished_at=now(), summary=summarise(connection, run))
        )
    return "finished"


def summarise(connection, run: Run) -> dict:
    """The run's figures from its stored scores: clients, decisions, expected loss, the
    distribution of probabilities and the changes against the previous champion's run."""
    scores = PortfolioScore.__table__
    p = scores.c.probability
    edges = [i / BINS for i in range(BINS + 1)]
    bins = [
        func.sum(case((and_(p >= lo, p < hi if hi < 1 else p <= hi), 1), else_=0))
        for lo, hi in zip(edges, edges[1:], strict=False)
    ]
    row = connection.execute(
        select(
            func.count(),
            func.coalesce(func.sum(scores.c.label), 0),
            func.coalesce(func.sum(scores.c.expected_loss), 0.0),
            func.avg(p),
            *bins,
        ).where(scores.c.run_id == run.id)
    ).one()
    clients_scored, declined = int(row[0]), int(row[1])
    return {
        "clients": clients_scored,
        "decisions": {"approve": clients_scored - declined, "decline": declined},
        "expected_loss": float(row[2]),
        "mean_probability": float(row[3]) if row[3] is not None else None,
        "histogram": {"edges": edges, "counts": [int(n or 0) for n in row[4:]]},
        "reasons": reason_counts(connection, run.id),
        "changes": changes_against(connection, run),
    }


def reason_counts(connection, run_id: int) -> dict[str, dict[str, int]]:
    """Among the run's declined clients: how many have each reason first, and at all."""
    scores = PortfolioScore.__table__
    rows = connection.execute(
        select(scores.c.reasons, func.count())
        .where(scores.c.run_id == run_id, scores.c.label == 1)
        .group_by(scores.c.reasons)
    ).all()
    first: dict[str, int] = {}
    anywhere: dict[str, int] = {}
    for codes, count in rows:
        found = [code for code in (codes or "").split(",") if code]
        if found:
            first[found[0]] = first.get(found[0], 0) + int(count)
        for code in found:
            anywhere[code] = anywhere.get(code, 0) + int(count)
    return {"first": first, "any": anywhere}


def previous_champion_run(connection, run: Run) -> int | None:
    """The latest finished run before `run` made with a champion of another version."""
    return connection.scalar(
        select(PortfolioRun.id)
        .where(
            PortfolioRun.state == "finished",
            PortfolioRun.champion.is_(True),
            PortfolioRun.version != run.version,
            PortfolioRun.id < run.id,
        )
        .order_by(PortfolioRun.id.desc())
        .limit(1)
    )


def changes_against(connection, run: Run) -> dict | None:
    """Clients of both runs whose decision changed: counts and the first CHANGES_LISTED of
    each way, largest change of probability first. None without a previous champion run."""
    previous = previous_champion_run(connection, run)
    if previous is None:
        return None
    now_, before = aliased(PortfolioScore), aliased(PortfolioScore)
    pair = (
        select(
            now_.client_id,
            before.probability.label("before"),
            now_.probability.label("after"),
            now_.reasons,
        )
        .join(before, and_(before.client_id == now_.client_id, before.run_id == previous))
        .where(now_.run_id == run.id)
    )
    counts = connection.execute(
        select(
            func.count(),
            func.coalesce(
                func.sum(case((and_(now_.label == 1, before.label == 0), 1), else_=0)), 0
            ),
            func.coalesce(
                func.sum(case((and_(now_.label == 0, before.label == 1), 1), else_=0)), 0
            ),
        )
        .select_from(now_)
        .join(before, and_(before.client_id == now_.client_id, before.run_id == previous))
        .where(now_.run_id == run.id)
    ).one()
    listed = {}
    for name, condition in (
        ("now_declined", and_(now_.label == 1, before.label == 0)),
        ("now_approved", and_(now_.label == 0, before.label == 1)),
    ):
        rows = connection.execute(
            pair.where(condition)
            .order_by(func.abs(now_.probability - before.probability).desc(), now_.client_id)
            .limit(CHANGES_LISTED)
        ).all()
        listed[name] = [
            {
                "client_id": int(r.client_id),
                "before": float(r.before),
                "after": float(r.after),
                "reasons": r.reasons or "",
            }
            for r in rows
        ]
    previous_version = connection.scalar(
        select(PortfolioRun.version).where(PortfolioRun.id == previous)
    )
    return {
        "previous_run": int(previous),
        "previous_version": previous_version,
        "compared": int(counts[0]),
        "now_declined": int(counts[1]),
        "now_approved": int(counts[2]),
        "listed": listed,
    }


def _stamp(engine: Engine, run_id: int, worker: str) -> None:
    """Stamp running run `run_id` as alive now, scored by `worker`."""
    with connect(engine, write=True) as connection:
        connection.execute(
            update(PortfolioRun)
            .where(PortfolioRun.id == run_id, PortfolioRun.state == "running")
            .values(heartbeat_at=now(), worker=worker)
        )
