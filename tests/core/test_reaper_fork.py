"""A worker's reaper thread never holds the database (or its locks) while the worker forks
a child to train: a child forked mid-reap would wait forever on a lock copied locked."""

import os
import threading
import time

from core.jobs.workers import Reaper


class SlowReaper(Reaper):
    """Takes a while over each reap and says when it starts and ends one."""

    def __init__(self, url: str):
        super().__init__(url, every=0.01)
        self.reaping = threading.Event()
        self.reaps_done = 0

    def _reap(self, engine) -> None:
        self.reaping.set()
        time.sleep(0.5)  # the reap in progress while the test forks
        self.reaps_done += 1


def test_a_fork_waits_until_the_reaper_is_between_reaps(tmp_path):
    reaper = SlowReaper(f"sqlite:///{tmp_path / 'credit.db'}")
    reaper.start()
    try:
        assert reaper.reaping.wait(10)
        done_before = reaper.reaps_done
        pid = os.fork()
        if pid == 0:  # the child: the reap under way at fork time must have ended first
            os._exit(0 if reaper.reaps_done > done_before else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "the child was forked mid-reap"
    finally:
        reaper.stop()


def test_threads_migrating_one_database_at_once_all_succeed(tmp_path):
    """Alembic keeps its context in module globals: concurrent upgrades in one process
    (a local worker and its reaper did this) must not break each other."""
    from core.db.engine import make_engine, migrate

    engines = [make_engine(f"sqlite:///{tmp_path / f'db{n}.db'}") for n in range(6)]
    errors = []

    def upgrade(engine) -> None:
        try:
            migrate(engine)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=upgrade, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
