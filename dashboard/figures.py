"""The chart modules with their figure builders built once per process for equal arguments.

Building a Plotly figure is most of a page's own work on a rerun whose query results come
from the cache. `st.plotly_chart` only reads a figure (it serialises a copy), so reruns and
sessions share one. Pages import a chart module from here (`figures.explore`) instead of
from dashboard.charts. Builders that do not return a figure, or take an untyped argument,
and arguments that cannot be hashed, go straight through. A dict (a model's evaluation) is
hashed as its JSON text (under 1 ms for a version's evaluation): Streamlit's own hashing
walks every point of its curves and costs more than drawing them.
"""

from __future__ import annotations

import functools
import inspect
import json
import types
from collections.abc import Callable
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pyarrow as pa
import streamlit as st
from streamlit.runtime.caching.cache_errors import UnhashableParamError

from dashboard.charts import decisions as _decisions
from dashboard.charts import explore as _explore
from dashboard.charts import models as _models
from dashboard.charts import scoring as _scoring


def _as_json(value: dict) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _frame_as_json(frame: pd.DataFrame) -> str:
    """A frame's columns, index, values and types as text: a tenth of the cost of Streamlit's
    own frame hashing (pandas' per-column hashes) for the small frames charts are drawn from."""
    shape = frame.to_json(orient="split", double_precision=15, date_format="iso")
    return shape + "|" + ",".join(str(dtype) for dtype in frame.dtypes)


# How the caches below hash their arguments: Streamlit's own hashing walks every value.
HASH_FUNCS = {dict: _as_json, pd.DataFrame: _frame_as_json}

# Figures kept per builder: a few filter sets and versions per session, several sessions.
KEEP = 128


class _Drawn(go.Figure):
    """A shared figure, never changed once built: its dict form, which `st.plotly_chart`
    asks for on every run (a deep copy and a walk over every value, most of a chart's
    cost), is made once."""

    def to_dict(self) -> dict:
        if getattr(self, "_as_dict", None) is None:
            self._as_dict = super().to_dict()
        return self._as_dict


def _drawn(figure: Any) -> Any:
    if type(figure) is go.Figure:
        figure.__class__ = _Drawn  # the same object, its to_dict made once
    return figure


def _shared(build: Callable[..., Any]) -> Callable[..., Any]:
    cached = st.cache_resource(show_spinner=False, max_entries=KEEP, hash_funcs=HASH_FUNCS)

    @functools.wraps(build)  # Streamlit keys the cache by the builder's name and source
    def drawn(*args: Any, **kwargs: Any) -> Any:
        return _drawn(build(*args, **kwargs))

    cached = cached(drawn)

    @functools.wraps(build)
    def figure(*args: Any, **kwargs: Any) -> Any:
        try:
            return cached(*args, **kwargs)
        except UnhashableParamError:
            return build(*args, **kwargs)

    return figure


def shared_table(build: Callable[..., pd.DataFrame]) -> Callable[..., pa.Table]:
    """`build` (a table to show, from hashable arguments) made once per process for equal
    arguments and kept as an Arrow table: `st.dataframe` sends it as it is, without
    converting a frame on every run. Nothing may change the table it returns."""
    cached = st.cache_resource(show_spinner=False, max_entries=KEEP, hash_funcs=HASH_FUNCS)

    @functools.wraps(build)  # Streamlit keys the cache by the builder's name and source
    def arrow(*args: Any, **kwargs: Any) -> pa.Table:
        return pa.Table.from_pandas(build(*args, **kwargs), preserve_index=False)

    return cached(arrow)


def as_arrow(frame: pd.DataFrame) -> pa.Table | pd.DataFrame:
    """`frame` (shown without its index) as an Arrow table, converted once per process for
    equal frames: `st.dataframe` converts a pandas frame on every run, most of a small
    table's cost. A frame Arrow cannot take as it is goes through unchanged (Streamlit
    converts its mixed columns to text)."""
    try:
        return _arrow(frame)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return frame


@st.cache_resource(show_spinner=False, max_entries=4 * KEEP, hash_funcs=HASH_FUNCS)
def _arrow(frame: pd.DataFrame) -> pa.Table:
    return pa.Table.from_pandas(frame, preserve_index=False)


def _with_shared_figures(module: types.ModuleType) -> types.SimpleNamespace:
    """`module`'s public names, its figure builders wrapped by `_shared`."""
    names = {}
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        worth_it = (
            inspect.isfunction(value)
            and value.__module__ == module.__name__
            and value.__annotations__.get("return") == "go.Figure"
            and _cheap_to_hash(value)
        )
        names[name] = _shared(value) if worth_it else value
    return types.SimpleNamespace(**names)


def _cheap_to_hash(build: Callable[..., Any]) -> bool:
    parameters = inspect.signature(build).parameters.values()
    return all(parameter.annotation is not inspect.Parameter.empty for parameter in parameters)


decisions = _with_shared_figures(_decisions)
explore = _with_shared_figures(_explore)
models = _with_shared_figures(_models)
scoring = _with_shared_figures(_scoring)
