"""Cached values as bytes without pickle: JSON with a small typed envelope, frames as Arrow.

A value read back from Redis is data, never code: `decode` builds only the kinds listed
here (plain JSON values, tuples, dicts with any of these as keys, dates, Decimals, numpy
scalars, DataFrames, and the dataclasses registered with `cacheable`) and raises
DecodeError on anything else, so a cache can treat foreign bytes as a miss.

Layout: MAGIC, the JSON part's length (4 bytes, big-endian), the JSON part, then each
DataFrame as its length (8 bytes) and an Arrow IPC stream. In the JSON part every object
is a tagged node {"$": kind, ...}; arrays are lists.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import struct
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

MAGIC = b"credit-cache/1\n"
_JSON_LENGTH = struct.Struct(">I")
_FRAME_LENGTH = struct.Struct(">Q")
_NUMPY_KINDS = "biuf"  # numpy scalars kept as such: bool, signed, unsigned, float
_DATACLASSES: dict[str, type] = {}


class EncodeError(ValueError):
    """The value holds something that cannot be stored exactly without pickle."""


class DecodeError(ValueError):
    """The bytes are not a value written by `encode`."""


def cacheable(cls: type) -> type:
    """Class decorator: let `decode` rebuild this dataclass (no other class is ever built)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__qualname__} is not a dataclass")
    _DATACLASSES[_type_name(cls)] = cls
    return cls


def encode(value: Any) -> bytes:
    """`value` as bytes that `decode` turns back into an equal value of the same types.

    Raises EncodeError when a part of it has a type this module does not store, or a
    DataFrame would not come back exactly (dtypes, index, column labels, None and NaN).
    """
    frames: list[bytes] = []
    try:
        tree = json.dumps(_to_tree(value, frames), separators=(",", ":")).encode()
    except RecursionError:
        raise EncodeError("the value is nested too deeply") from None
    parts = [MAGIC, _JSON_LENGTH.pack(len(tree)), tree]
    for frame in frames:
        parts += [_FRAME_LENGTH.pack(len(frame)), frame]
    return b"".join(parts)


def decode(data: bytes) -> Any:
    """The value `encode` wrote into `data`; DecodeError for any other bytes."""
    try:
        tree, frames = _split(data)
        value = _from_tree(tree, frames)
    except DecodeError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure on foreign bytes means "not ours"
        raise DecodeError(f"{type(exc).__name__}: {exc}") from None
    return value


# -- encoding -----------------------------------------------------------------------------


def _to_tree(value: Any, frames: list[bytes]) -> Any:
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if np.isfinite(value) else {"$": "float", "v": repr(value)}
    if kind is list:
        return [_to_tree(item, frames) for item in value]
    if kind is tuple:
        return {"$": "tuple", "v": [_to_tree(item, frames) for item in value]}
    if kind is dict:
        items = [[_to_tree(k, frames), _to_tree(v, frames)] for k, v in value.items()]
        return {"$": "dict", "v": items}
    if kind is pd.DataFrame:
        nans = _nan_cells(value)
        frames.append(_frame_bytes(value, nans))
        return {"$": "frame", "i": len(frames) - 1, "nan": nans}
    encoder = _ENCODERS.get(kind)
    if encoder is not None:
        return encoder(value)
    if isinstance(value, np.generic) and value.dtype.kind in _NUMPY_KINDS:
        return {"$": "numpy", "dtype": value.dtype.str, "v": _to_tree(value.item(), frames)}
    if dataclasses.is_dataclass(value) and _DATACLASSES.get(_type_name(kind)) is kind:
        fields = {f.name: _to_tree(getattr(value, f.name), frames) for f in _fields(kind)}
        return {"$": "dataclass", "type": _type_name(kind), "v": fields}
    raise EncodeError(f"cannot store a {kind.__module__}.{kind.__qualname__} without pickle")


def _datetime_tree(value: dt.datetime) -> dict:
    offset = value.utcoffset()
    if value.tzinfo is not None and value.tzinfo != dt.timezone(offset):
        raise EncodeError(f"cannot store the time zone {value.tzinfo!r}; use UTC or an offset")
    return {"$": "datetime", "v": value.isoformat()}


_ENCODERS = {
    dt.datetime: _datetime_tree,
    dt.date: lambda value: {"$": "date", "v": value.isoformat()},
    Decimal: lambda value: {"$": "decimal", "v": str(value)},
}


def _nan_cells(frame: pd.DataFrame) -> list[list]:
    """[column, [rows]] of the NaNs in object columns, which Arrow would turn into None."""
    cells = []
    for column in _object_columns(frame):
        rows = [row for row, v in enumerate(frame.iloc[:, column]) if _is_nan(v)]
        if rows:
            cells.append([column, rows])
    return cells


def _is_nan(value: Any) -> bool:
    return isinstance(value, float | np.floating) and np.isnan(value)


def _frame_bytes(frame: pd.DataFrame, nans: list[list]) -> bytes:
    try:
        table = pa.Table.from_pandas(frame, preserve_index=None)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise EncodeError(f"a DataFrame Arrow cannot hold: {exc}") from None
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data = sink.getvalue().to_pybytes()
    try:
        exact = _same_frame(frame, _read_frame(data, nans))
    except (pa.ArrowException, ValueError, TypeError):
        exact = False
    if not exact:
        raise EncodeError("this DataFrame would not come back from Arrow exactly")
    return data


def _same_frame(frame: pd.DataFrame, back: pd.DataFrame) -> bool:
    """Whether the Arrow copy is the frame: a cache must not change answers."""
    return (
        back.dtypes.equals(frame.dtypes)
        and _same_index(back.columns, frame.columns)
        and _same_index(back.index, frame.index)
        and back.attrs == frame.attrs
        and back.equals(frame)
        and all(_same_missing(frame.iloc[:, i], back.iloc[:, i]) for i in _object_columns(frame))
    )


def _same_index(a: pd.Index, b: pd.Index) -> bool:
    return type(a) is type(b) and a.dtype == b.dtype and a.names == b.names and a.equals(b)


def _object_columns(frame: pd.DataFrame) -> list[int]:
    return [i for i, dtype in enumerate(frame.dtypes) if dtype == np.dtype(object)]


def _same_missing(a: pd.Series, b: pd.Series) -> bool:
    """None stays None and NaN stays NaN (DataFrame.equals takes them for each other)."""
    return _missing(a) == _missing(b)


def _missing(column: pd.Series) -> list[tuple[int, type]]:
    return [
        (i, type(v))
        for i, v in enumerate(column)
        if v is None or pd.api.types.is_scalar(v) and pd.isna(v)
    ]


def _type_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _fields(cls: type) -> tuple:
    return dataclasses.fields(cls)


# -- decoding -----------------------------------------------------------------------------


def _split(data: bytes) -> tuple[Any, list[bytes]]:
    if not isinstance(data, bytes) or not data.startswith(MAGIC):
        raise DecodeError("not a cached value of this product (no header)")
    at = len(MAGIC)
    (length,) = _JSON_LENGTH.unpack_from(data, at)
    at += _JSON_LENGTH.size
    tree = json.loads(data[at : at + length])
    at += length
    frames = []
    while at < len(data):
        (length,) = _FRAME_LENGTH.unpack_from(data, at)
        at += _FRAME_LENGTH.size
        if at + length > len(data):
            raise DecodeError("a frame is cut short")
        frames.append(data[at : at + length])
        at += length
    return tree, frames


def _from_tree(tree: Any, frames: list[bytes]) -> Any:
    if tree is None or type(tree) in (bool, int, float, str):
        return tree
    if type(tree) is list:
        return [_from_tree(item, frames) for item in tree]
    if type(tree) is not dict or type(tree.get("$")) is not str:
        raise DecodeError("an untagged JSON object")
    decoder = _DECODERS.get(tree["$"])
    if decoder is None:
        raise DecodeError(f"unknown kind {tree['$']!r}")
    return decoder(tree, frames)


def _float(tree, _frames) -> float:
    text = tree["v"]
    if text not in ("nan", "inf", "-inf"):
        raise DecodeError(f"not a special float: {text!r}")
    return float(text)


def _dict(tree, frames) -> dict:
    return {_from_tree(k, frames): _from_tree(v, frames) for k, v in _list(tree)}


def _list(tree) -> list:
    if type(tree["v"]) is not list:
        raise DecodeError(f"a {tree['$']} without a list of items")
    return tree["v"]


def _numpy(tree, frames) -> np.generic:
    dtype = np.dtype(tree["dtype"])
    if dtype.kind not in _NUMPY_KINDS:
        raise DecodeError(f"not a numeric numpy type: {tree['dtype']!r}")
    return dtype.type(_from_tree(tree["v"], frames))


def _dataclass(tree, frames) -> Any:
    cls = _DATACLASSES.get(tree["type"])
    if cls is None:
        raise DecodeError(f"{tree['type']!r} is not a cacheable dataclass")
    names = [f.name for f in _fields(cls)]
    values = tree["v"]
    if type(values) is not dict or sorted(values) != sorted(names):
        raise DecodeError(f"the fields of {tree['type']} do not match")
    return cls(**{name: _from_tree(values[name], frames) for name in names})


def _frame(tree, frames) -> pd.DataFrame:
    index = tree["i"]
    if type(index) is not int or not 0 <= index < len(frames):
        raise DecodeError("a frame reference points nowhere")
    return _read_frame(frames[index], tree["nan"])


def _read_frame(data: bytes, nans: list[list]) -> pd.DataFrame:
    table = pa.ipc.open_stream(data).read_all()
    table.validate(full=True)
    # One thread: on frames of a few hundred rows, starting threads costs more than it saves.
    frame = table.to_pandas(use_threads=False)
    for column, rows in nans:
        if frame.dtypes.iloc[column] != np.dtype(object) or frame.iloc[rows, column].notna().any():
            raise DecodeError("NaN cells named outside the missing values of a text column")
        frame.iloc[rows, column] = np.nan
    return frame


_DECODERS = {
    "float": _float,
    "tuple": lambda tree, frames: tuple(_from_tree(item, frames) for item in _list(tree)),
    "dict": _dict,
    "frame": _frame,
    "datetime": lambda tree, _frames: dt.datetime.fromisoformat(tree["v"]),
    "date": lambda tree, _frames: dt.date.fromisoformat(tree["v"]),
    "decimal": lambda tree, _frames: Decimal(tree["v"]),
    "numpy": _numpy,
    "dataclass": _dataclass,
}
