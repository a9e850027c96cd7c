"""What people read when Redis, the training workers or the database are unavailable:
plain words, what to do, and never a password (issue 15)."""

import pytest
import redis
from sqlalchemy.exc import OperationalError

from core import jobs
from core.cache import redis_reason, redis_status
from core.db.engine import describe_error, make_engine, plain_reason
from core.jobs.rq import NO_WORKER

SECRET = "s3cret-pw"


@pytest.mark.parametrize(
    "error, words",
    [
        (redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
         "connection refused: is Redis running?"),
        (redis.TimeoutError("Timeout connecting to server"), "no answer in time"),
        (redis.AuthenticationError("invalid username-password pair"),
         "the password in REDIS_URL was refused"),
        (redis.ConnectionError("Error -2 connecting to nohost:6379. Name or service not known."),
         "unknown host name"),
        (redis.ConnectionError("Connection closed by server."), "Connection closed by server."),
    ],
)  # fmt: skip
def test_redis_failures_in_words(error, words):
    assert redis_reason(error) == words


@pytest.mark.parametrize(
    "text, words",
    [
        ('connection to server at "127.0.0.1", port 1 failed: Connection refused\n\tIs the '
         "server running on that host and accepting TCP/IP connections?",
         "connection refused (is the database server running?)"),
        ('connection to server at "db", port 5432 failed: FATAL:  password authentication '
         'failed for user "root"', "the user name or password was refused"),
        ("unable to open database file", "the file cannot be opened (does its folder exist?)"),
        ('relation "clients" does not exist\nLINE 1: ...', 'relation "clients" does not exist'),
    ],
)  # fmt: skip
def test_database_failures_in_words(text, words):
    assert plain_reason(Exception(text)) == words


def test_a_database_failure_names_the_database_without_user_or_password():
    engine = make_engine(f"postgresql://root:{SECRET}@127.0.0.1:1/nothing")
    refused = OperationalError("SELECT 1", {}, Exception("... failed: Connection refused"))
    message = describe_error(engine, refused)
    assert message == (
        "database PostgreSQL 127.0.0.1:1/nothing is unavailable: connection refused (is the "
        "database server running?)"
    )
    assert SECRET not in message and "root" not in message
    engine.dispose()


def test_redis_down_says_where_and_hides_the_password():
    down = redis.Redis.from_url(f"redis://:{SECRET}@127.0.0.1:1/3", socket_connect_timeout=1)
    answers, text = redis_status(down)
    assert not answers
    assert (
        text
        == "Redis at 127.0.0.1:1 (database 3) is unavailable: connection refused: is Redis running?"
    )
    status = jobs.RqRunner(down, "training-x").status(None)
    assert not status.ok and SECRET not in status.text and "redis://" not in status.text
    assert status.text.startswith("Redis at 127.0.0.1:1 (database 3) does not answer")
    assert status.text.endswith("Start Redis, or point REDIS_URL at one that runs.")


def test_no_worker_says_what_to_do(real_redis):
    status = jobs.RqRunner(real_redis, "training-nobody-listens").status(None)
    assert not status.ok and status.text == NO_WORKER
    assert status.text.startswith("no training worker is running")
    assert "`python -m core worker`" in status.text and "listens" not in status.text
