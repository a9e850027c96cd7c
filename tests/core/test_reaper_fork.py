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
