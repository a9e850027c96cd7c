"""Running a training job: the work that RQ workers and the local worker do.

`train_job(engine, job_id, experiment)` claims the job's models one at a time (several
workers may share a job), cross-validates each and writes its leaderboard row at once,
stops after the current model when a cancel is asked for, and lets the worker that
settles the last model finalize the best one: the model version and the job's end in one
transaction.

`experiment` is the class that trains: core.ml.experiment.Experiment (PyCaret) in
production, a small stand-in in tests. It is used as
`experiment.start_workers()` -> handle (before the data loads), `experiment(frame, params,
handle)` -> an object with `rows`, `cross_validate(model_id)` -> CvResult and
`finalize(model_id)` -> Finalized, and `experiment.stop_workers()` when the job ends.
RQ runs `run_training(job_id)`, which passes the PyCaret one.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

from sqlalchemy import Engine, func, select, update

from core.clock import now
from core.data.features import sample_frame, training_frame
from core.db.engine import DatabaseError, connect, get_engine
from core.db.schema import LeaderboardRow, TrainingJob
from core.jobs.heartbeat import heartbeat
from core.jobs.store import (
    HEARTBEAT_SECONDS,
    BoardRow,
    Job,
    JobError,
    get_job,
    job_rows,
    mark_failed,
    skip_pending,
    worker_name,
)
from core.ml.experiment import Experiment
from core.ml.params import MODELS, NO_PROBABILITIES, TrainingError, TrainingParams
from core.ml.registry import VersionError, save_version
from core.settings import get_settings
from core.vocabulary import COLUMNS, best_first

log = logging.getLogger(__name__)

FAILURE_RETRY_SECONDS = 60
STOPPED = "the worker was stopped before the job finished; nothing was saved"


def stamp_job(engine: Engine, job_id: str, worker: str) -> None:
    """Stamp running job `job_id`, and the model `worker` trains for it, as alive now."""
    stamp = now()
    with connect(engine, write=True) as connection:
        connection.execute(
            update(TrainingJob)
            .where(TrainingJob.id == job_id, TrainingJob.state == "running")
            .values(heartbeat_at=stamp)
        )
        connection.execute(
            update(LeaderboardRow)
            .where(
                LeaderboardRow.job_id == job_id,
                LeaderboardRow.worker == worker,
                LeaderboardRow.state == "running",
            )
            .values(heartbeat_at=stamp)
        )


def run_training(job_id: str) -> str:
    """Train job `job_id` (or help train it) with PyCaret; returns the job's state when this
    worker stops.

    The RQ task. The database is the one DATABASE_URL names in the worker's environment.
    """
    return train_job(get_engine(get_settings().database_url), job_id, Experiment)


def train_job(engine: Engine, job_id: str, experiment) -> str:
    """Claim models of job `job_id` one at a time until none is left, then finalize; the
    models are trained by `experiment` (see the module docstring). The experiment's
    worker processes are stopped before this returns."""
    try:
        return _JobRun(engine, job_id, experiment).run()
    finally:
        experiment.stop_workers()


class _Stop(Exception):
    """The job ended elsewhere (cancelled, or failed by a reaper): stop quietly."""


class _JobRun:
    def __init__(self, engine: Engine, job_id: str, experiment):
        self.engine, self.job_id, self.worker = engine, job_id, worker_name()
        self.make_experiment = experiment
        self.experiment = None
        self.trained = 0

    def run(self) -> str:
        job = self._claim()
        if job is None:
            return self._state()
        params = TrainingParams.from_row(job)
        try:
            beat = partial(stamp_job, self.engine, self.job_id, self.worker)
            with heartbeat(beat, HEARTBEAT_SECONDS, f"job {self.job_id}"):
                self._train_all(params)
                if self.trained:
                    self._finalize_if_last(params)
        except _Stop:
            pass
        except DatabaseError as exc:
            self._fail(f"the database became unavailable during training: {exc}", wait=True)
            raise
        except (TrainingError, VersionError) as exc:
            self._fail(str(exc))
            raise
        except Exception as exc:
            self._fail(f"training failed: {type(exc).__name__}: {exc}")
            raise
        except BaseException:
            self._fail(STOPPED)
            raise
        return self._state()

    def _claim(self) -> Job | None:
        """Start the queued job, or join it when it already runs; None when it has ended."""
        stamp = now()
        with connect(self.engine, write=True) as connection:
            connection.execute(
                update(TrainingJob)
                .where(TrainingJob.id == self.job_id, TrainingJob.state == "queued")
                .values(
                    state="running",
                    stage="preparing",
                    started_at=stamp,
                    heartbeat_at=stamp,
                    worker=self.worker,
                )
            )
        job = get_job(self.engine, self.job_id)
        if job.state != "running" or job.cancel_requested:
            return None
        log.info("job %s: %s works on it", self.job_id, self.worker)
        return job

    def _train_all(self, params: TrainingParams) -> None:
        while True:
            self._check_wanted()
            model_id = self._claim_model()
            if model_id is None:
                return
            if self.experiment is None:
                self.experiment = self._prepare(params)
            self._train(model_id)

    def _claim_model(self) -> str | None:
        stamp = now()
        with connect(self.engine, write=True) as connection:
            _lock_job(connection, self.job_id)
            pending = connection.scalars(
                select(LeaderboardRow.model_id)
                .where(LeaderboardRow.job_id == self.job_id, LeaderboardRow.state == "pending")
                .order_by(LeaderboardRow.position)
            ).all()
            for model_id in pending:
                claimed = connection.execute(
                    update(LeaderboardRow)
                    .where(
                        LeaderboardRow.job_id == self.job_id,
                        LeaderboardRow.model_id == model_id,
                        LeaderboardRow.state == "pending",
                    )
                    .values(
                        state="running", worker=self.worker, started_at=stamp, heartbeat_at=stamp
                    )
                ).rowcount
                if claimed:
                    connection.execute(
                        update(TrainingJob)
                        .where(TrainingJob.id == self.job_id)
                        .values(current_model=MODELS.get(model_id, model_id))
                    )
                    return model_id
        return None

    def _prepare(self, params: TrainingParams):
        warm_up = self.make_experiment.start_workers()
        frame = training_frame(self.engine)
        if frame.empty:
            raise TrainingError(["the data set is empty: load clients before training"])
        if params.sample_size and params.sample_size > len(frame):
            raise TrainingError(
                [f"sample size {params.sample_size:,} is larger than the {len(frame):,} clients"]
            )
        frame = sample_frame(frame, params.sample_size, params.seed)
        experiment = self.make_experiment(frame, params, warm_up)
        with connect(self.engine, write=True) as connection:
            connection.execute(
                update(TrainingJob)
                .where(TrainingJob.id == self.job_id, TrainingJob.stage == "preparing")
                .values(stage="training", rows=len(frame))
            )
        return experiment

    def _train(self, model_id: str) -> None:
        values: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            result = self.experiment.cross_validate(model_id)
        except Exception as exc:
            log.warning("job %s: %s failed: %s", self.job_id, model_id, exc)
            values.update(state="failed", error=f"{type(exc).__name__}: {exc}")
        else:
            values.update(state="done", sd=result.sd)
            values.update({COLUMNS[name]: value for name, value in result.means.items()})
            log.info("job %s: %s in %.1f s", self.job_id, model_id, time.perf_counter() - started)
        self.trained += 1
        with connect(self.engine, write=True) as connection:
            connection.execute(
                update(TrainingJob)
                .where(TrainingJob.id == self.job_id)
                .values(models_done=TrainingJob.models_done + 1)
            )
            connection.execute(
                update(LeaderboardRow)
                .where(LeaderboardRow.job_id == self.job_id, LeaderboardRow.model_id == model_id)
                .values(finished_at=now(), **values)
            )

    def _check_wanted(self) -> None:
        """Raise _Stop when the job ended elsewhere or a cancel was asked for."""
        with connect(self.engine) as connection:
            state, cancel_requested = connection.execute(
                select(TrainingJob.state, TrainingJob.cancel_requested).where(
                    TrainingJob.id == self.job_id
                )
            ).one()
        if state == "running" and cancel_requested:
            with connect(self.engine, write=True) as connection:
                connection.execute(
                    update(TrainingJob)
                    .where(TrainingJob.id == self.job_id, TrainingJob.state == "running")
                    .values(state="cancelled", stage=None, current_model=None, finished_at=now())
                )
                skip_pending(connection, self.job_id)
            log.info("job %s cancelled", self.job_id)
        if state != "running" or cancel_requested:
            raise _Stop

    def _finalize_if_last(self, params: TrainingParams) -> None:
        """The worker that settles the last model finalizes the best one and saves it."""
        with connect(self.engine, write=True) as connection:
            unsettled = connection.scalar(
                select(func.count())
                .select_from(LeaderboardRow)
                .where(
                    LeaderboardRow.job_id == self.job_id,
                    LeaderboardRow.state.in_(("pending", "running")),
                )
            )
            if unsettled:
                return
            elected = connection.execute(
                update(TrainingJob)
                .where(
                    TrainingJob.id == self.job_id,
                    TrainingJob.state == "running",
                    TrainingJob.stage.in_(("preparing", "training")),
                )
                .values(stage="finalizing")
            ).rowcount
        if not elected:
            return
        board = job_rows(self.engine, self.job_id)
        best, note = pick_best(board, params.metric)
        if best is None:
            failures = "; ".join(f"{r.model_id}: {r.error}" for r in board if r.error)
            raise TrainingError([f"every model failed, so there is nothing to save ({failures})"])
        self._set(current_model=f"{best.model_name} (finalizing)")
        started = time.perf_counter()
        finalized = (self.experiment or self._prepare(params)).finalize(best.model_id)
        log.info(
            "job %s: finalized %s in %.1f s",
            self.job_id,
            best.model_id,
            time.perf_counter() - started,
        )
        self._check_wanted()
        notes = [text for text in (note, getattr(finalized, "note", None)) if text]
        self._save(params, best, finalized, "; ".join(notes) or None)

    def _save(self, params: TrainingParams, best: BoardRow, finalized, note: str | None) -> None:
        """The version and the job's end in one transaction: both or neither."""
        try:
            with connect(self.engine, write=True) as connection:
                save_version(
                    connection,
                    version=params.version,
                    pipeline=finalized.pipeline,
                    model_id=best.model_id,
                    model_name=best.model_name,
                    metric=params.metric,
                    params=finalized.params,
                    metrics=best.metrics,
                    folds=params.folds,
                    rows=self.experiment.rows if self.experiment else 0,
                    evaluation={**finalized.evaluation, "cv_sd": best.sd or {}},
                    job_id=self.job_id,
                )
                ended = connection.execute(
                    update(TrainingJob)
                    .where(
                        TrainingJob.id == self.job_id,
                        TrainingJob.state == "running",
                        TrainingJob.cancel_requested.is_(False),
                    )
                    .values(
                        state="finished",
                        stage=None,
                        current_model=None,
                        finished_at=now(),
                        best_model_id=best.model_id,
                        best_model_name=best.model_name,
                        best_score=best.metrics.get(params.metric),
                        note=note,
                    )
                ).rowcount
                if not ended:
                    raise _Stop  # cancelled or failed meanwhile: roll the version back
        except VersionError:
            raise VersionError(
                f"version {params.version} was saved by another job while this one ran; "
                "nothing was saved: train again with another version"
            ) from None
        except _Stop:
            self._check_wanted()
            raise
        log.info("job %s finished: version %s is %s", self.job_id, params.version, best.model_id)

    def _set(self, **values) -> None:
        with connect(self.engine, write=True) as connection:
            connection.execute(
                update(TrainingJob).where(TrainingJob.id == self.job_id).values(**values)
            )

    def _fail(self, message: str, wait: bool = False) -> None:
        """Record the failure; when the database is down, keep trying for a while."""
        deadline = time.monotonic() + (FAILURE_RETRY_SECONDS if wait else 0)
        told = False
        while True:
            try:
                mark_failed(self.engine, self.job_id, message)
                log.error("job %s failed: %s", self.job_id, message)
                return
            except DatabaseError as exc:
                if not told:
                    log.warning(
                        "job %s failed (%s); recording it when the database answers",
                        self.job_id,
                        message,
                    )
                    told = True
                if time.monotonic() >= deadline:
                    log.error(
                        "job %s failed (%s) and that could not be recorded: %s",
                        self.job_id,
                        message,
                        exc,
                    )
                    return
                time.sleep(2)

    def _state(self) -> str:
        try:
            return get_job(self.engine, self.job_id).state
        except (DatabaseError, JobError):
            return "failed"


def _lock_job(connection, job_id: str) -> None:
    """Lock the job's row first. Every transaction that writes both tables takes the job
    before its leaderboard rows, so two workers (or a worker and its heartbeat) never
    wait on each other in a circle. SQLite writes one at a time anyway."""
    connection.execute(select(TrainingJob.id).where(TrainingJob.id == job_id).with_for_update())


def pick_best(board: list[BoardRow], metric: str) -> tuple[BoardRow | None, str | None]:
    """The best model on `metric` (the highest, or the lowest for Brier and Log Loss) among
    those that give probabilities, and a note when the top one gives none (ridge, svm):
    scoring needs probabilities."""
    sign = -1 if best_first(metric) else 1
    scored = [r for r in board if r.state == "done" and r.metrics.get(metric) is not None]
    ranked = sorted(scored, key=lambda r: (sign * r.metrics[metric], r.position))
    best = next((r for r in ranked if r.model_id not in NO_PROBABILITIES), None)
    if best is None or best is ranked[0]:
        return best, None
    return best, (
        f"{ranked[0].model_name} scored highest on {metric} but gives no probabilities, "
        f"so {best.model_name} was kept for scoring"
    )
