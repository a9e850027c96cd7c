import logging
import threading

from core.db.engine import DatabaseError
from core.jobs.heartbeat import heartbeat


def test_beats_run_in_a_thread_until_the_block_ends():
    beaten = threading.Event()
    with heartbeat(beaten.set, 0.01, "job x"):
        assert beaten.wait(10)
    assert not any(t.name == "heartbeat of job x" for t in threading.enumerate())


def test_a_database_error_is_a_warning_and_the_next_beat_tries_again(caplog):
    calls = []
    again = threading.Event()

    def beat():
        calls.append(1)
        if len(calls) == 1:
            raise DatabaseError("the database is away")
        again.set()

    with caplog.at_level(logging.WARNING, logger="core.jobs.heartbeat"):
        with heartbeat(beat, 0.01, "portfolio run 7"):
            assert again.wait(10)
    assert "heartbeat of portfolio run 7 failed: the database is away" in caplog.text
