"""Command line: `python -m core COMMAND ...`; each command sets its own handler."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import asdict

from tqdm import tqdm

from core.auth.access import AccessDenied
from core.auth.cli import add_users_command
from core.auth.users import UserError
from core.cache import describe, get_store
from core.data.dataset import DataError, validate_frame
from core.data.loader import SourceError, find_source, read_source
from core.data.publish import publish, publish_file
from core.data.status import data_status
from core.data.synthetic import synthetic
from core.db.engine import DatabaseError, database_label, get_engine
from core.settings import SettingsError, get_settings

# Failures that end a command with a one-line message instead of a traceback.
EXPECTED_ERRORS = (SettingsError, SourceError, DatabaseError, ValueError, AccessDenied, UserError)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    add_load_command(commands)
    add_score_command(commands)
    add_worker_command(commands)
    add_train_command(commands)
    add_users_command(commands)
    add_purge_command(commands)
    add_card_command(commands)
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
    store = get_store(settings.redis_url)
    with tqdm(total=0, unit="rows", unit_scale=True, desc="loading", disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        def stage(text: str) -> None:
            tqdm.write(text.lower())

        if args.synthetic:
            frame = validate_frame(synthetic(args.synthetic))
            source = f"synthetic ({args.synthetic:,} clients)"
            published = publish(
                engine, store, frame, source, replace=args.replace, progress=progress, stage=stage
            )
        else:
            source = find_source(args.csv, settings.credit_data)
            print(f"reading {source}")
            published = publish_file(
                engine,
                store,
                read_source(source),
                source,
                replace=args.replace,
                progress=progress,
                stage=stage,
            )
    print(f"loaded {published.load.report()}")
    if published.summaries_error:
        print(
            f"warning: the summaries were not rebuilt ({published.summaries_error}); "
            "the explore pages build them on first use",
            file=sys.stderr,
        )
    return 0


def add_score_command(commands) -> None:
    score = commands.add_parser("score", help="score clients with a trained model version")
    score.add_argument("--version", help="model version, e.g. 1.0 (default: champion, else latest)")
    given = score.add_mutually_exclusive_group(required=True)
    given.add_argument("--json", metavar="OBJECT", help="one client's 23 features as a JSON object")
    given.add_argument(
        "--csv", metavar="FILE", help="a CSV of clients (the loader's headers, target optional)"
    )
    score.add_argument("--out", metavar="FILE", help="with --csv: write results here, not stdout")
    score.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="label cut-off (default: the version's policy threshold, else 0.5)",
    )
    score.add_argument(
        "--no-reasons",
        action="store_true",
        help="leave out the reason codes (reason_1..reason_4 of a file, reasons of a client)",
    )
    score.set_defaults(handler=run_score)


def run_score(args) -> int:
    from core.ml.registry import ArtifactError
    from core.serving.schemas import InputError
    from core.serving.scoring import NoModelError

    engine = get_engine(get_settings().database_url)
    try:
        return _score_json(engine, args) if args.json is not None else _score_csv(engine, args)
    except InputError as exc:
        lines = "\n".join(f"  {problem}" for problem in exc.problems)
        print(f"error: the client cannot be scored:\n{lines}", file=sys.stderr)
    except DataError as exc:
        print(f"error: the file has problems, nothing was scored:\n{exc}", file=sys.stderr)
    except (NoModelError, ArtifactError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    return 1


def _score_json(engine, args) -> int:
    import json

    from core.serving.scoring import score

    try:
        client = json.loads(args.json)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--json is not valid JSON: {exc}") from None
    if not isinstance(client, dict):
        raise ValueError('--json takes one client as a JSON object {"LIMIT_BAL": ...}')
    result = score(engine, client, version=args.version, threshold=args.threshold, source="cli")
    output = {**asdict(result), "label": result.label, "label_text": result.label_text}
    if not args.no_reasons:
        from core.serving.reasons import reasons_of
        from core.serving.scoring import explain

        found = reasons_of(explain(engine, client, result.version))
        output["reasons"] = [reason.as_dict() for reason in found.reasons]
        output["protected_note"] = found.protected_note
    print(json.dumps(output))
    return 0


def _score_csv(engine, args) -> int:
    from pathlib import Path

    from core.serving.files import score_csv_file

    path = Path(args.csv)
    if not path.is_file():
        raise ValueError(f"no file at {path}")
    if args.out and not Path(args.out).resolve().parent.is_dir():
        raise ValueError(f"no folder for --out {args.out}")
    with tqdm(
        total=path.stat().st_size * 2, unit="B", unit_scale=True, desc="scoring", disable=None
    ) as bar:

        def progress(done: int, total: int, stage: str) -> None:
            bar.set_description(stage, refresh=False)
            bar.update(done - bar.n)

        try:
            scores = score_csv_file(
                engine,
                path,
                args.out or sys.stdout.buffer,
                version=args.version,
                threshold=args.threshold,
                log_source="cli",
                limit_mb=get_settings().scoring_upload_mb,
                progress=progress,
                reasons=not args.no_reasons,
            )
        except OSError as exc:
            raise ValueError(f"the results could not be written: {exc}") from None
    print(
        f"scored {scores.rows:,} clients with model version {scores.version}: "
        f"{scores.predicted:,} predicted to default at threshold {scores.threshold:g} "
        f"({scores.threshold_source})" + (f"; results in {args.out}" if args.out else ""),
        file=sys.stderr,
    )
    return 0


def add_worker_command(commands) -> None:
    worker = commands.add_parser(
        "worker", help="run training jobs: an RQ worker with REDIS_URL, else a local worker"
    )
    worker.add_argument(
        "--local", action="store_true", help="poll the database for jobs even if REDIS_URL is set"
    )
    worker.add_argument("--burst", action="store_true", help="exit when no job waits")
    worker.add_argument(
        "--single", action="store_true", help="local: exit if this database has a local worker"
    )
    worker.add_argument(
        "--idle-exit", type=float, metavar="SECONDS", help="local: exit after idling this long"
    )
    worker.set_defaults(handler=run_worker)


def run_worker(args) -> int:
    from core.jobs import queue_name
    from core.jobs.workers import run_local_worker, run_rq_worker

    settings = get_settings()
    logging.getLogger("core").setLevel(logging.INFO)
    if settings.redis_url and not args.local:
        engine = get_engine(settings.database_url)
        queue, label = queue_name(engine), database_label(engine)
        engine.dispose()  # work horses fork from this process: they open their own connections
        where = describe(get_store(settings.redis_url))
        print(f"RQ worker on queue '{queue}' of {where}, for {label}", flush=True)
        run_rq_worker(settings.redis_url, settings.database_url, burst=args.burst)
        return 0
    engine = get_engine(settings.database_url)
    print(f"local worker for {database_label(engine)}")
    run_local_worker(engine, burst=args.burst, single=args.single, idle_exit=args.idle_exit)
    return 0


def add_train_command(commands) -> None:
    train = commands.add_parser("train", help="train models and store the best as a version")
    train.add_argument("--folds", type=int, default=5, help="cross-validation folds, 2..10 (5)")
    train.add_argument("--version", help="model version, e.g. 1.0 (default: the next unused)")
    train.add_argument("--models", help="comma-separated PyCaret ids (default: the turbo set)")
    train.add_argument("--metric", default="AUC", help="metric that picks the best (AUC)")
    train.add_argument("--sample", type=int, metavar="N", help="train on N random clients")
    train.add_argument(
        "--fix-imbalance", action="store_true", help="oversample defaulters (SMOTE) in training"
    )
    train.add_argument(
        "--calibrate",
        choices=["isotonic", "sigmoid", "none"],
        help="calibrate the kept model's probabilities on held-out folds "
        "(default: isotonic with --fix-imbalance, else none)",
    )
    train.add_argument(
        "--leave-out-protected",
        action="store_true",
        help="train without SEX, AGE and MARRIAGE (fairness is still reported by them)",
    )
    train.add_argument(
        "--no-follow", action="store_true", help="queue the job and exit without waiting"
    )
    train.set_defaults(handler=run_train)


def run_train(args) -> int:
    from core.jobs import JobError, runner_for, submit, suggest_version, tend

    settings = get_settings()
    engine = get_engine(settings.database_url)
    runner = runner_for(settings)
    tend(engine, runner)  # a dead worker's job fails now, even with no worker alive
    params = dict(
        folds=args.folds,
        version=args.version or suggest_version(engine),
        models=args.models,
        metric=args.metric,
        sample_size=args.sample,
        fix_imbalance=args.fix_imbalance,
        calibrate=args.calibrate,
        leave_out_protected=args.leave_out_protected,
    )
    try:
        job_id = submit(engine, params, runner)
    except JobError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"job {job_id} queued: version {params['version']}, {args.folds} folds")
    return 0 if args.no_follow else follow_job(engine, job_id)


def follow_job(engine, job_id: str) -> int:
    """Show a job's progress until it ends; Ctrl-C asks it to stop after the current model.

    It reaps stale jobs every REAP_SECONDS too, as workers do, so a job whose worker died
    ends even when no worker is left to reap it."""
    from core.jobs.store import REAP_SECONDS, cancel, get_job, reap_stale

    job = get_job(engine, job_id)
    shown: set[str] = set()
    reaped_at = time.monotonic()
    with tqdm(total=job.models_total, unit="model", desc="training", disable=None) as bar:
        while True:
            try:
                if time.monotonic() - reaped_at > REAP_SECONDS:
                    reap_stale(engine)
                    reaped_at = time.monotonic()
                job = get_job(engine, job_id)
                _show_rows(job, shown, bar)
                if not job.active:
                    break
                bar.set_postfix_str(_job_status(job), refresh=True)
                time.sleep(0.5)
            except KeyboardInterrupt:
                if job.cancel_requested:
                    raise
                cancel(engine, job_id)
                tqdm.write("cancel requested: the job stops after the current model")
                job = get_job(engine, job_id)
    return _report_end(job)


def _show_rows(job, shown: set[str], bar) -> None:
    for row in job.leaderboard:
        if row.model_id in shown or row.state not in ("done", "failed"):
            continue
        shown.add(row.model_id)
        if row.state == "done":
            metrics = "  ".join(
                f"{name} {row.metrics[name]:.4f}" for name in ("AUC", "Accuracy", "F1")
            )
            text = f"{row.model_name:<32} {metrics}  {row.metrics['TT (Sec)']:.2f} s/fold"
        else:
            text = f"{row.model_name:<32} failed: {row.error}"
        tqdm.write(text)
        bar.update(1)


def _job_status(job) -> str:
    if job.state == "queued":
        return "queued, waiting for a worker"
    return f"{job.state}: {job.now_doing or job.state}"


def _report_end(job) -> int:
    seconds = f" in {job.seconds:.0f} s" if job.seconds is not None else ""
    if job.state == "finished":
        print(
            f"finished{seconds}: version {job.version} is {job.best_model_name} "
            f"({job.metric} {job.best_score:.4f})"
        )
        if job.note:
            print(f"note: {job.note}")
        return 0
    reason = f": {job.error}" if job.error else ""
    print(f"job {job.state}{seconds}{reason}; no version was saved", file=sys.stderr)
    return 1


def add_purge_command(commands) -> None:
    purge = commands.add_parser(
        "purge", help="delete logged predictions older than PREDICTION_RETENTION_DAYS"
    )
    purge.add_argument(
        "--days", type=int, help="keep this many days instead (default: the setting, 90)"
    )
    purge.set_defaults(handler=run_purge)


def run_purge(args) -> int:
    from core.serving.retention import purge_predictions

    settings = get_settings()
    days = settings.prediction_retention_days if args.days is None else args.days
    if days < 1:
        raise ValueError(f"--days must be at least 1, not {days}")
    dropped = purge_predictions(get_engine(settings.database_url), days)
    rows = "logged prediction" if dropped == 1 else "logged predictions"
    print(f"dropped {dropped:,} {rows} older than {days} day{'' if days == 1 else 's'}")
    return 0


def add_card_command(commands) -> None:
    card = commands.add_parser("card", help="write a model version's model card")
    card.add_argument("--version", required=True, help="model version, e.g. 1.0")
    card.add_argument("--format", choices=("md", "html"), default="md", help="md (default) or html")
    card.add_argument("--out", metavar="FILE", help="write the card here, not to stdout")
    card.set_defaults(handler=run_card)


def run_card(args) -> int:
    from pathlib import Path

    from core.ml.card import model_card

    text = model_card(get_engine(get_settings().database_url), args.version, args.format)
    if args.out is None:
        print(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"--out {args.out}: cannot write the card: {exc.strerror}") from None
    print(f"wrote the {args.format} model card of version {args.version} to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
