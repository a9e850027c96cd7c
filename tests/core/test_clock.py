from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.clock import aware, now, seconds_between

TAIPEI = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (datetime(2024, 1, 2, 3, 4), datetime(2024, 1, 2, 3, 4, tzinfo=UTC)),
        (datetime(2024, 1, 2, 3, 4, tzinfo=UTC), datetime(2024, 1, 2, 3, 4, tzinfo=UTC)),
        (datetime(2024, 1, 2, 3, 4, tzinfo=TAIPEI), datetime(2024, 1, 2, 3, 4, tzinfo=TAIPEI)),
    ],
)
def test_aware_attaches_utc_to_naive_times_only(value, expected):
    result = aware(value)
    assert result == expected
    assert result is None or result.tzinfo == expected.tzinfo


def test_now_is_aware_utc():
    assert now().tzinfo is UTC


START = datetime(2024, 1, 2, 3, 4, tzinfo=UTC)


@pytest.mark.parametrize(
    ("started", "finished", "expected"),
    [
        (None, None, None),
        (START, START + timedelta(seconds=90), 90.0),
        (START, START - timedelta(seconds=5), 0.0),
    ],
)
def test_seconds_between_start_and_end(started, finished, expected):
    assert seconds_between(started, finished) == expected


def test_seconds_run_to_now_until_the_end():
    assert seconds_between(now() - timedelta(hours=1), None) >= 3600
