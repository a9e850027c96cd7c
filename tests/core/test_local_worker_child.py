"""The local worker's training child, seen from outside: the thread pools it trains with
(those of an RQ work horse, not one thread) and no processes left behind when it exits."""

import ast
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from core import jobs
from core.ml.experiment import preload, thread_pools
from tests.jobs_support import FAST, load_clients, url_of, wait_for

MARKER = "CREDIT_TEST_WORKER_MARKER"


@pytest.fixture
def marked_worker(engine, tmp_path):
    """A real `python -m core worker --local --single`, ready for jobs; every process it
    starts inherits a marker in its environment. Yields (pid, marker, log path)."""
    marker = uuid.uuid4().hex
    log = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": url_of(engine), MARKER: marker}
    env.pop("REDIS_URL", None)
    with open(log, "wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "core", "worker", "--local", "--single"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        poll_until(lambda: "waiting for jobs" in log.read_text(), f"worker ready ({log})")
        yield worker.pid, marker, log
    finally:
        jobs.stop_local_worker(engine)
        worker.wait(timeout=30)


def test_local_worker_child_trains_with_threads_per_core_and_leaves_no_processes(
    engine, marked_worker
):
    pid, marker, log = marked_worker
    load_clients(engine)
    job = wait_for(engine, jobs.submit(engine, {**FAST, "version": "1.0"}, jobs.LocalRunner()))
    assert job.state == "finished", job.error

    # The child logs the thread pools it trained with; a limit of its own (one OpenMP
    # thread) made it slower than an RQ work horse, which has what this process has.
    preload()
    assert child_thread_pools(log) == thread_pools()

    # Its joblib cross-validation processes end with it, not five minutes later.
    poll_until(lambda: marked_pids(marker) == {pid}, "only the worker left")


def child_thread_pools(log: Path) -> dict[str, int]:
    lines = [line for line in log.read_text().splitlines() if "thread pools" in line]
    assert lines, f"no thread pools logged in {log}"
    return ast.literal_eval(lines[-1].split("thread pools ", 1)[1])


def marked_pids(marker: str) -> set[int]:
    """The processes whose environment carries the marker."""
    found = set()
    needle = f"{MARKER}={marker}".encode()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
            except OSError:
                continue  # ended meanwhile, or not ours to read
    return found


def poll_until(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {timeout} s")
        time.sleep(0.1)
