"""Figures and tables built once per process (dashboard/figures.py): equal arguments built
anew (as a query read from the cache gives them) share one figure, different ones do not,
and what `st.plotly_chart` and `st.dataframe` are given equals what the builders make."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import figures
from dashboard.charts import explore
from dashboard.figures import shared_table


def rates(women_rate: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "code": [1, 2],
            "label": ["male", "female"],
            "clients": [400, 600],
            "defaulted": [96, round(600 * women_rate)],
            "rate": [0.24, women_rate],
        }
    )


@pytest.fixture(autouse=True)
def empty_caches():
    import streamlit as st

    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def test_equal_frames_share_one_figure_and_different_ones_do_not():
    first = figures.explore.default_rates(rates(0.21), "sex")
    again = figures.explore.default_rates(rates(0.21), "sex")
    other = figures.explore.default_rates(rates(0.21 + 1e-12), "sex")
    assert again is first
    assert other is not first
    assert list(other.data[0].x) != list(first.data[0].x)


def test_a_shared_figure_reads_as_the_builder_made_it():
    shared = figures.explore.default_rates(rates(0.21), "sex")
    built = explore.default_rates(rates(0.21), "sex")
    assert isinstance(shared, go.Figure)
    assert shared.to_json() == built.to_json()
    assert shared.to_dict() is shared.to_dict()  # made once, not on every run


def test_frames_with_the_same_values_and_other_types_are_told_apart():
    as_int = pd.DataFrame({"clients": [1, 2]})
    as_float = pd.DataFrame({"clients": [1.0, 2.0]})
    assert figures._frame_as_json(as_int) != figures._frame_as_json(as_float)
    renamed = as_int.rename(columns={"clients": "defaulters"})
    assert figures._frame_as_json(as_int) != figures._frame_as_json(renamed)


def test_a_shared_table_is_the_frame_as_arrow_made_once():
    calls = []

    @shared_table
    def shown(report: dict) -> pd.DataFrame:
        calls.append(report)
        return pd.DataFrame({"Group": report["groups"], "Clients": ["1,200", "800"]})

    table = shown({"groups": ["male", "female"]})
    assert shown({"groups": ["male", "female"]}) is table
    assert len(calls) == 1
    assert table.to_pandas().equals(
        pd.DataFrame({"Group": ["male", "female"], "Clients": ["1,200", "800"]})
    )
    shown({"groups": ["female", "male"]})
    assert len(calls) == 2


def test_a_table_is_converted_to_arrow_once_for_equal_frames():
    frame = pd.DataFrame({"Client": [7, 8], "Limit": ["NT$ 20,000", "NT$ 50,000"]})
    table = figures.as_arrow(frame)
    assert figures.as_arrow(frame.copy()) is table
    assert table.to_pandas().equals(frame)
    assert figures.as_arrow(frame.assign(Client=[7, 9])) is not table


def test_a_frame_arrow_cannot_take_goes_through_for_streamlit_to_convert():
    mixed = pd.DataFrame({"value": [1.5, "text"]})
    assert figures.as_arrow(mixed) is mixed
