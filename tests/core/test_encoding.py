"""core.encoding: cached values round-trip exactly, and foreign bytes are refused, not run."""

from __future__ import annotations

import datetime as dt
import json
import math
import pickle
import struct
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from core import encoding
from core.encoding import MAGIC, DecodeError, EncodeError, cacheable, decode, encode
from core.explore import Bounds, ClientRecord, Figures


@cacheable
@dataclass(frozen=True)
class Point:
    x: int
    label: str | None


@dataclass(frozen=True)
class NotRegistered:
    x: int


def frame_with_everything() -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "month": np.array([6, 5, 4], dtype="int64"),
            "small": np.array([1, 2, 3], dtype="int32"),
            "label": ["Apr 2005", None, "Jun 2005"],
            "mixed_missing": ["a", float("nan"), None],
            "rate": [0.25, float("nan"), 1 / 3],
            "flag": [True, False, True],
            "maybe": [True, None, False],
            "when": pd.to_datetime(["2005-04-30", None, "2005-06-30"]),
            "utc": pd.to_datetime(["2005-04-30 12:00", "2005-05-31 00:00", None], utc=True),
            "code": pd.Categorical(["x", "y", "x"], categories=["y", "x"], ordered=True),
        },
        index=pd.Index([10, 20, 30], name="client"),
    )
    frame.columns.name = "field"
    return frame


def same_frame(actual: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(actual, expected, check_exact=True, check_column_type=True)
    assert type(actual.index) is type(expected.index)
    for name in expected.columns[expected.dtypes.map(pd.api.types.is_object_dtype)]:
        kinds = [type(v) for v in expected[name]]
        assert [type(v) for v in actual[name]] == kinds, name  # None stays None, NaN NaN


VALUES = [
    None,
    True,
    0,
    -(2**70),
    1.5,
    "text é ²",
    [1, "a", None, [2.5]],
    (1, (2, 3)),
    {"a": 1, 2: "b", (3, 4): None, None: [1]},
    {"$": "dict", "v": []},  # a dict that looks like a tag stays a dict
    dt.date(2005, 9, 30),
    dt.datetime(2005, 9, 30, 12, 30, 5, 123456),
    dt.datetime(2005, 9, 30, 12, tzinfo=dt.UTC),
    dt.datetime(2005, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
    Decimal("12345.678901234567890"),
    np.int64(7),
    np.float32(0.1),
    np.bool_(True),
    Point(1, None),
    Figures(3_000, 35.5, 0.22, 167_000.0),
    Figures(0, None, None, None),
    Bounds((21, 79), (10_000, 1_000_000)),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_round_trip_with_their_types(value):
    back = decode(encode(value))
    assert back == value
    assert type(back) is type(value)
    if isinstance(value, Bounds):
        assert type(back.age) is tuple


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_special_floats_round_trip(value):
    back = decode(encode(value))
    assert type(back) is float and (math.isnan(back) if math.isnan(value) else back == value)


def test_a_frame_round_trips_exactly():
    frame = frame_with_everything()
    same_frame(decode(encode(frame)), frame)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame(columns=["month", "label"]),
        pd.DataFrame({1: [1.5], 2: [None]}),
        pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype=object)}),
        pd.DataFrame({"a": [1.0, 2.0]}, index=pd.RangeIndex(5, 9, 2)),
        pd.DataFrame({"a": [1, 2]}, index=pd.Index(["x", "y"])),
    ],
    ids=["no rows", "numbered columns", "typed, no rows", "range index", "text index"],
)
def test_edge_frames_round_trip_exactly(frame):
    same_frame(decode(encode(frame)), frame)


def test_a_client_record_with_its_history_round_trips():
    history = frame_with_everything().reset_index(drop=True)
    record = ClientRecord({"id": 1, "sex_label": "female", "defaulted": False}, history)
    back = decode(encode({"record": record, "also": history}))
    assert type(back["record"]) is ClientRecord
    assert back["record"].profile == record.profile
    same_frame(back["record"].history, history)
    same_frame(back["also"], history)


@pytest.mark.parametrize(
    "value, message",
    [
        (object(), "builtins.object"),
        (NotRegistered(1), "NotRegistered"),
        ({1, 2}, "builtins.set"),
        (pd.Timestamp("2005-09-30"), "Timestamp"),
        (pd.DataFrame({1: [1], "a": [2]}), "would not come back"),  # names become text
        (pd.DataFrame({"a": [1, "x"]}), "DataFrame"),  # mixed types in one column
        (pd.DataFrame({"a": pd.array([1, None], dtype=object)}), "would not come back"),
    ],
)
def test_what_cannot_be_stored_exactly_is_refused_by_name(value, message):
    with pytest.raises(EncodeError, match=message):
        encode(value)


def tagged(tree) -> bytes:
    data = json.dumps(tree).encode()
    return MAGIC + struct.pack(">I", len(data)) + data


class Boom:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        pickle.dumps({"a": 1}),
        pickle.dumps(Boom()),
        MAGIC,
        MAGIC + b"\x00\x00\x00\x10{",
        tagged({"a": 1}),
        tagged({"$": "pickle", "v": "gASVAAAA"}),
        tagged({"$": "dataclass", "type": "subprocess.Popen", "v": {"args": "touch /tmp/x"}}),
        tagged({"$": "dataclass", "type": encoding._type_name(Point), "v": {"x": 1}}),
        tagged({"$": "numpy", "dtype": "O", "v": 1}),
        tagged({"$": "frame", "i": 0}),
        tagged({"$": "tuple", "v": "abc"}),
        tagged({"$": "float", "v": "1e999"}),
        tagged({"$": "frame", "i": 0}) + struct.pack(">Q", 4) + b"ARRO",
        tagged({"$": "frame", "i": 0}) + struct.pack(">Q", 99) + b"short",
        tagged([[1]] * 2) + b"\x00",  # a frame length cut short
        MAGIC + struct.pack(">I", 200_000) + b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_foreign_bytes_are_refused(data):
    with pytest.raises(DecodeError):
        decode(data)
