from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.clock import aware, now

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
