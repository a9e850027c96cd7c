"""The shared polling helper: returns what the condition found, fails saying what it
waited for, and lets the condition stop the wait early."""

import itertools

import pytest

from tests.waiting import wait_for


def test_returns_the_first_truthy_answer():
    answers = itertools.chain([None, 0, ""], itertools.repeat("ready"))
    assert wait_for(lambda: next(answers), timeout=30, message="never ready", interval=0) == "ready"


@pytest.mark.parametrize("message", ["the job to end", lambda: "the job to end"])
def test_fails_with_the_message_after_the_timeout(message):
    with pytest.raises(AssertionError, match=r"^the job to end \(waited 0.2 s\)$"):
        wait_for(lambda: False, timeout=0.2, message=message, interval=0.01)


def test_an_error_in_the_condition_stops_the_wait():
    def condition():
        raise RuntimeError("the worker died")

    with pytest.raises(RuntimeError, match="the worker died"):
        wait_for(condition, timeout=30, message="unused")
