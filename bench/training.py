"""Training benchmark: our background job against plain PyCaret compare_models, same run.

    python bench/training.py [--folds 5] [--sample N] [--models lr,dt,...]
                             [--runner rq|local|both] [--repeat 1]

Same data (the training frame read from the database), same models (default: the turbo
set), same folds and seed. Prints:
- the job's wall time (submit -> version saved) / compare_models' wall time (read the
  frame, setup, compare_models), target <= 1.1;
- seconds from submit to the first leaderboard row, target <= 15 (full data);
- the best cross-validated AUC with the default settings, target >= 0.78;
- each model's cross-validation seconds in the job against compare_models' "TT (Sec)".
Also the CPU seconds each side used (its processes and their joblib workers): wall time
on a shared machine moves with whatever else runs, CPU time much less.

BENCH_DATABASE_URL (default: a new SQLite file under /tmp) is loaded with CREDIT_DATA if
it has no clients. BENCH_REDIS_URL runs the job on an RQ worker; the local runner needs
nothing. Workers are started (and warmed up) before the clock starts, as in production.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from benchfigures import Figures, add_json_option
from core import jobs
from core.data.loader import load_file
from core.data.status import data_status
from core.db.engine import make_engine
from core.ml.params import SEED, TURBO
from core.ml.registry import next_version

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("CREDIT_DATA", ROOT.parent / "shared" / "data" / "credit.csv"))

BASELINE = """
import json, os, sys, time
os.environ.setdefault("PYCARET_CUSTOM_LOGGING_PATH", os.devnull)
from pycaret.classification import ClassificationExperiment
from core.db.engine import make_engine
from core.vocabulary import ID
from core.data.features import sample_frame, training_frame
folds, seed, sample, models = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
engine = make_engine(os.environ["DATABASE_URL"])
started = time.perf_counter()
frame = sample_frame(training_frame(engine), sample or None, seed)
exp = ClassificationExperiment()
exp.setup(frame.drop(columns=[ID]), target="default", fold=folds, session_id=seed,
          html=False, verbose=False, system_log=False)
exp.compare_models(include=models.split(","), fold=folds, sort="AUC", verbose=False)
seconds = time.perf_counter() - started
board = exp.pull()
print(json.dumps([seconds, board["AUC"].max(), board["TT (Sec)"].astype(float).to_dict()]))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--sample", type=int, default=0, help="rows (0 = all)")
    parser.add_argument("--models", default=",".join(TURBO))
    parser.add_argument("--runner", choices=["rq", "local", "both"], default="both")
    parser.add_argument(
        "--repeat", type=int, default=1, help="pairs of runs per runner; medians are shown"
    )
    add_json_option(parser)
    args = parser.parse_args()
    figures = Figures("training")
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    redis_url = os.environ.get("BENCH_REDIS_URL")
    engine = make_engine(url)
    if data_status(engine).empty:
        print(f"loading {DATA} into {engine.url.render_as_string()}")
        load_file(engine, DATA.read_bytes(), str(DATA))
    clients = data_status(engine).clients
    rows = args.sample or clients
    print(f"{rows:,} rows, {args.folds} folds, models {args.models}")

    runners = ["rq", "local"] if args.runner == "both" else [args.runner]
    if "rq" in runners and not redis_url:
        print("rq: skipped, BENCH_REDIS_URL is not set")
        runners.remove("rq")
    results = {}
    for runner in runners:
        pairs = []
        for _ in range(args.repeat):
            # The baseline right before each job, so both meet the same machine load.
            baseline = run_baseline(url, args)
            wall, cpu, auc, _ = baseline
            print(f"compare_models: {wall:.1f} s, {cpu:.0f} CPU s, AUC {auc:.4f}")
            ours = run_job(engine, url, redis_url, runner, args)
            print(
                f"{runner} job: {ours[0]:.1f} s, {ours[1]:.0f} CPU s, first row after "
                f"{ours[3]:.1f} s, AUC {ours[2]:.4f}"
            )
            pairs.append((ours, baseline))
        results[runner] = pairs
    print()
    header = ("runner", "job s", "compare s", "ratio", "CPU ratio", "first row s", "AUC")
    print("{:<8} {:>7} {:>10} {:>6} {:>10} {:>12} {:>7}".format(*header))
    for runner, pairs in results.items():
        job = median(ours[0] for ours, _ in pairs)
        compare = median(baseline[0] for _, baseline in pairs)
        ratio = median(ours[0] / baseline[0] for ours, baseline in pairs)
        cpu = median(ours[1] / baseline[1] for ours, baseline in pairs)
        first_row = median(ours[3] for ours, _ in pairs)
        auc = min(ours[2] for ours, _ in pairs)
        print(
            f"{runner:<8} {job:7.1f} {compare:10.1f} {ratio:6.2f} {cpu:10.2f} "
            f"{first_row:12.1f} {auc:7.4f}"
        )
        # job <= 1.1 x compare_models, as a ratio compare_models / job >= 1 / 1.1
        figures.add(f"training job, {rows:,} rows, {args.folds} folds, {runner} worker", job, "s",
                    "ratio >= 0.909", baseline=compare, baseline_what="compare_models")  # fmt: skip
        figures.add(f"first leaderboard row after Train, {runner} worker", first_row, "s", "<= 15")
        figures.add(f"best CV AUC, {runner} worker", auc, "", ">= 0.78")
    print_models(results)
    if args.repeat > 1:
        print(f"(medians of {args.repeat} pairs of runs)")
    print("targets: ratio <= 1.10, first row <= 15 s on the full data, AUC >= 0.78")
    figures.write(args.json)
    return 0


def children_cpu() -> float:
    """CPU seconds of the finished child processes (and the ones they waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def print_models(results: dict) -> None:
    """Each model's cross-validation seconds: job / compare_models, medians over pairs."""
    for runner, pairs in results.items():
        cells = []
        for model in pairs[0][1][3]:
            job = median(ours[4].get(model, float("nan")) for ours, _ in pairs)
            compare = median(baseline[3][model] for _, baseline in pairs)
            cells.append(f"{model} {job:.1f}/{compare:.1f}")
        print(f"{runner} per model, job/compare_models s: " + ", ".join(cells))


def run_baseline(url: str, args) -> tuple[float, float, float, dict]:
    """(wall s, CPU s, best AUC, seconds by model) of setup + compare_models in a fresh
    process."""
    env = {**os.environ, "DATABASE_URL": url}
    command = [sys.executable, "-c", BASELINE, str(args.folds), str(SEED), str(args.sample)]
    cpu = children_cpu()
    output = subprocess.run(
        [*command, args.models], env=env, check=True, capture_output=True, text=True
    ).stdout
    seconds, auc, models = json.loads(output.splitlines()[-1])
    return seconds, children_cpu() - cpu, auc, models


def run_job(engine, url: str, redis_url: str | None, runner: str, args):
    """Start a warm worker, submit, follow the job; (wall s, CPU s, best AUC, first row s,
    seconds by model)."""
    env = {**os.environ, "DATABASE_URL": url}
    if runner == "rq":
        import redis

        client = redis.Redis.from_url(redis_url)
        chosen = jobs.RqRunner(client, jobs.queue_name(engine))
        command = [sys.executable, "-m", "core", "worker"]
        env["REDIS_URL"] = redis_url
    else:
        client, chosen = None, jobs.LocalRunner()
        command = [sys.executable, "-m", "core", "worker", "--local", "--single"]
        env.pop("REDIS_URL", None)
    cpu = children_cpu()
    log = Path(tempfile.gettempdir()) / f"bench-training-{runner}-worker.log"
    print(f"{runner} worker log: {log}")
    with open(log, "wb") as output:
        worker = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT
        )
    try:
        wait_for_worker(engine, chosen, log)
        params = dict(
            folds=args.folds,
            version=next_version(engine),
            models=args.models,
            sample_size=args.sample or None,
        )
        job_id = jobs.submit(engine, params, chosen)
        while (job := jobs.get_job(engine, job_id)).active:
            time.sleep(1)  # the times come from the database: polling must not load the CPU
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    if job.state != "finished":
        raise SystemExit(f"{runner} job {job.state}: {job.error}")
    first_row = min(r.finished_at for r in job.leaderboard if r.state == "done")
    return (
        (job.finished_at - job.submitted_at).total_seconds(),
        children_cpu() - cpu,
        job.best_score,
        (first_row - job.submitted_at).total_seconds(),
        {r.model_id: r.metrics.get("TT (Sec)") for r in job.leaderboard if r.state == "done"},
    )


def wait_for_worker(engine, chosen, log: Path, timeout: float = 60) -> None:
    """Until the worker listens: registered with RQ, or holding the local lock and done
    importing PyCaret (it takes the lock first, so a second worker exits at once)."""
    from rq import Queue, Worker

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if chosen.kind == "rq" and Worker.count(
            queue=Queue(chosen.queue, connection=chosen.connection)
        ):
            break
        if chosen.kind == "local" and jobs.local_worker_pid(engine) and ready(log):
            break
        time.sleep(0.2)
    else:
        raise SystemExit(f"the {chosen.kind} worker did not start within {timeout} s")


def ready(log: Path) -> bool:
    """The local worker logged that it waits for jobs (core.jobs.workers)."""
    return "waiting for jobs" in log.read_text(errors="replace")


if __name__ == "__main__":
    sys.exit(main())
