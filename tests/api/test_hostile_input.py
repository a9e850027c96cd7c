"""Hostile input to the API's bodies: each case is answered at once with a 4xx JSON whose
`detail` names the field (or the body), never a 500, a hang or a traceback."""

from __future__ import annotations

import json

import pytest

from core.vocabulary import FEATURES
from tests.trained import real_frame, register

DEEP = 30_000
REALTIME, BATCH, TRAIN = "/predict/realtime/", "/predict/batch/", "/train/model/"


def client() -> dict:
    return {name: int(real_frame().at[3, name]) for name in FEATURES}


def body_with(fields: dict, name: str, raw: str) -> bytes:
    """A JSON object of `fields` with `name` written as the raw JSON text `raw`."""
    items = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in fields.items() if k != name]
    return ("{" + ", ".join([*items, f"{json.dumps(name)}: {raw}"]) + "}").encode()


def deep_list() -> bytes:
    return b"[" * DEEP + b"]" * DEEP


def deep_object() -> bytes:
    return b'{"a": ' * DEEP + b"1" + b"}" * DEEP


def in_a_list(body: bytes) -> bytes:
    return b"[" + body + b"]"


TRAINING = {"folds": 3, "version": "7.0", "models": ["lr"]}
# (path, body, status, words the detail must contain)
CASES = {
    "realtime, 30,000-deep list": (REALTIME, deep_list(), 422, ["body", "nested too deeply"]),
    "realtime, 30,000-deep object": (REALTIME, deep_object(), 422, ["body", "nested too deeply"]),
    "realtime, 5,000 digits": (
        REALTIME,
        body_with(client(), "LIMIT_BAL", "9" * 5_000),
        422,
        ["LIMIT_BAL", "a number of 5,000 digits"],
    ),
    "realtime, 5,000 digits with a fraction": (
        REALTIME,
        body_with(client(), "LIMIT_BAL", "9" * 5_000 + ".5"),
        422,
        ["LIMIT_BAL", "finite number"],
    ),
    "realtime, a huge string": (
        REALTIME,
        body_with(client(), "AGE", json.dumps("x" * 500_000)),
        422,
        ["AGE", "(500,000 characters) is not a whole number"],
    ),
    "realtime, NaN": (REALTIME, body_with(client(), "AGE", "NaN"), 422, ["AGE", "NaN"]),
    "realtime, Infinity": (
        REALTIME,
        body_with(client(), "BILL_AMT1", "-Infinity"),
        422,
        ["BILL_AMT1", "-Infinity"],
    ),
    "realtime, not UTF-8": (REALTIME, b'{"AGE": "\xff"}', 422, ["body", "not UTF-8"]),
    "batch, 30,000-deep list": (BATCH, deep_list(), 422, ["body", "nested too deeply"]),
    "batch, 5,000 digits": (
        BATCH,
        in_a_list(body_with(client(), "PAY_AMT3", "-" + "9" * 5_000)),
        422,
        ["item 0", "PAY_AMT3", "a number of 5,000 digits"],
    ),
    "batch, a huge string": (
        BATCH,
        in_a_list(body_with(client(), "LIMIT_BAL", json.dumps("x" * 3_000_000))),
        422,
        ["item 0", "LIMIT_BAL", "(3,000,000 characters) is not a number"],
    ),
    "batch, NaN": (BATCH, in_a_list(body_with(client(), "AGE", "NaN")), 422, ["item 0", "AGE"]),
    "train, 30,000-deep object": (TRAIN, deep_object(), 422, ["body", "nested too deeply"]),
    "train, 5,000 digits": (
        TRAIN,
        body_with(TRAINING, "folds", "9" * 5_000),
        422,
        ["folds", "integer"],
    ),
    "train, a huge string": (
        TRAIN,
        body_with(TRAINING, "version", json.dumps("v" * 500_000)),
        422,
        ["version", "at most 20 characters"],
    ),
    "train, NaN": (TRAIN, body_with(TRAINING, "folds", "NaN"), 422, ["folds"]),
    "train, Infinity in a list": (
        TRAIN,
        body_with(TRAINING, "models", "[Infinity]"),
        422,
        ["models"],
    ),
    "train, a huge model id": (
        TRAIN,
        body_with(TRAINING, "models", json.dumps(["lr" * 200_000])),
        422,
        ["models", "at most 40 characters"],
    ),
}


def assert_readable(answer, status: int, words: list[str]) -> None:
    assert answer.status_code == status, answer.text[:500]
    assert answer.headers["content-type"] == "application/json"
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "Traceback" not in answer.text
    assert len(answer.content) < 5_000  # the input is never echoed whole
    for word in words:
        assert word in detail, detail


@pytest.mark.parametrize("case", CASES)
def test_hostile_json_is_answered_naming_the_field_or_body(api, engine, case):
    register(engine, "1.0")
    path, body, status, words = CASES[case]
    answer = api.post(path, content=body, headers={"Content-Type": "application/json"})
    assert_readable(answer, status, words)


@pytest.mark.parametrize("path", [REALTIME, TRAIN])
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/x-www-form-urlencoded", None],
)
def test_a_wrong_content_type_is_a_422_naming_the_body(api, path, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps(client() if path == REALTIME else TRAINING).encode()
    answer = api.post(path, content=body, headers=headers)
    assert_readable(answer, 422, ["body"])


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/xml", "application/x-www-form-urlencoded", None]
)
def test_a_wrong_content_type_for_a_batch_is_a_415(api, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    answer = api.post(BATCH, content=json.dumps([client()]).encode(), headers=headers)
    assert_readable(answer, 415, ["application/json", "text/csv"])


@pytest.mark.parametrize("path", [REALTIME, TRAIN, "/models/champion"])
def test_a_body_of_several_megabytes_is_refused_before_it_is_read(api, path):
    body = body_with(client(), "pad", json.dumps("x" * 5_000_000))
    method = api.put if path.startswith("/models") else api.post
    answer = method(path, content=body, headers={"Content-Type": "application/json"})
    assert_readable(answer, 413, ["body", "larger than 1 MiB"])


def test_a_body_without_a_length_is_cut_off_at_the_limit(api):
    sent = []

    def chunks():
        for _ in range(8):
            sent.append(1)
            yield b" " * 1024 * 1024

    answer = api.post(REALTIME, content=chunks(), headers={"Content-Type": "application/json"})
    assert_readable(answer, 413, ["body", "larger than 1 MiB"])


def test_a_batch_over_its_own_limit_is_refused(api):
    from api.routes.predict import MAX_BATCH_BODY_BYTES

    body = b"[" + b" " * MAX_BATCH_BODY_BYTES + b"]"
    answer = api.post(BATCH, content=body, headers={"Content-Type": "application/json"})
    assert_readable(answer, 413, ["body", "larger than 65 MiB"])


def test_a_csv_cell_past_the_csv_readers_limit_names_its_line(api, engine):
    register(engine, "1.0")
    rows = ",".join(FEATURES) + "\n" + ",".join(["x" * 200_000] + ["1"] * 22) + "\n"
    answer = api.post(BATCH, content=rows.encode(), headers={"Content-Type": "text/csv"})
    assert_readable(answer, 422, ["line 2", "cannot be read as CSV"])


def test_a_batch_naming_one_feature_twice_is_refused_naming_both(api, engine):
    register(engine, "1.0")
    twice = {**client(), "PAY_0": 2}  # the UCI file's name for PAY_1, beside PAY_1
    answer = api.post(BATCH, json=[twice, twice])
    assert_readable(answer, 422, ["'PAY_1' and 'PAY_0' both give PAY_1"])
