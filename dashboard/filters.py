"""The explore filters in the sidebar, shared by the Clients and Payments pages.

The current filters live in st.session_state[SAVED] (a core Filters value), so they
survive moving between pages even though Streamlit forgets the state of widgets that a
page does not draw; the widgets are re-seeded from it when a page opens. They are mirrored
in the URL query string, which seeds them when a shared link opens a new session.
"""

from __future__ import annotations

import streamlit as st

from core.explore.clients import Bounds
from core.explore.filters import CHOICES, RANGES, Filters, from_query, label
from dashboard.components import escape_markdown

SAVED = "explore_filters"
KEYS = {
    "sex": "filter_sex",
    "education": "filter_education",
    "marriage": "filter_marriage",
    "age": "filter_age",
    "limit_bal": "filter_limit",
    "defaulted": "filter_defaulted",
}
DEFAULTED = {"all": None, "yes": True, "no": False}
LIMIT_STEP = 10_000


def filter_sidebar(bounds: Bounds) -> Filters:
    """Draw the filter widgets in the sidebar and return the filters they select."""
    if SAVED not in st.session_state:
        st.session_state[SAVED] = _from_link()
    slider_bounds = {"age": _widen(bounds.age, 1), "limit_bal": _outward(bounds.limit_bal)}
    # A page just opened: its widgets are new to Streamlit, seed them all.
    _seed(st.session_state[SAVED], slider_bounds, everything=st.session_state.get("new_visit"))
    with st.sidebar:
        st.subheader("Filters")
        for name in CHOICES:
            st.multiselect(
                name.capitalize(),
                CHOICES[name],
                format_func=lambda code, name=name: label(name, code),
                placeholder="all",
                key=KEYS[name],
            )
        st.slider("Age", *slider_bounds["age"], key=KEYS["age"])
        low, high = slider_bounds["limit_bal"]
        st.slider(
            "Credit limit", low, high, step=LIMIT_STEP, format="NT$ %,d", key=KEYS["limit_bal"]
        )
        st.radio("Defaulted", list(DEFAULTED), horizontal=True, key=KEYS["defaulted"])
        st.button("Clear filters", key="filter_clear", on_click=_clear, args=(slider_bounds,))
    filters = _from_widgets(slider_bounds)
    st.session_state[SAVED] = filters
    return filters


def mirror_in_url(filters: Filters, **extra: object) -> None:
    """Put the filters (and a page's own values, e.g. client=7) in the URL query string."""
    wanted = filters.to_query() | {k: str(v) for k, v in extra.items() if v is not None}
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def query_params() -> dict[str, list[str]]:
    """The URL's query parameters, every value of a repeated one kept (to be named)."""
    return {key: st.query_params.get_all(key) for key in st.query_params}


def _from_link() -> Filters:
    filters, problems = from_query(query_params())
    for problem in problems:
        st.warning(f"The link's filter {escape_markdown(problem)}")
    return filters


def _seed(filters: Filters, slider_bounds: dict, everything: bool) -> None:
    values = {
        **{KEYS[name]: list(getattr(filters, name)) for name in CHOICES},
        **{
            KEYS[name]: _clip(getattr(filters, name), slider_bounds[name]) for name in slider_bounds
        },
        KEYS["defaulted"]: next(k for k, v in DEFAULTED.items() if v is filters.defaulted),
    }
    for key, value in values.items():
        if everything or key not in st.session_state:
            st.session_state[key] = value


def _clear(slider_bounds: dict) -> None:
    st.session_state[SAVED] = Filters()
    _seed(Filters(), slider_bounds, everything=True)


def _from_widgets(slider_bounds: dict) -> Filters:
    state = st.session_state
    ranges = {}
    for name, full in slider_bounds.items():
        low, high = state[KEYS[name]]
        floor, ceiling = RANGES[name]  # the widened slider may reach past the domain
        chosen = (max(low, floor), min(high, ceiling))
        ranges[name] = None if (low, high) == tuple(full) else chosen
    return Filters(
        **{name: tuple(state[KEYS[name]]) for name in CHOICES},
        **ranges,
        defaulted=DEFAULTED[state[KEYS["defaulted"]]],
    )


def _clip(chosen: tuple[int, int] | None, full: tuple[int, int]) -> tuple[int, int]:
    if chosen is None:
        return full
    low, high = max(chosen[0], full[0]), min(chosen[1], full[1])
    return (low, high) if low <= high else full


def _outward(bounds: tuple[int, int]) -> tuple[int, int]:
    """Credit-limit bounds widened to whole steps, so the slider's ends are reachable."""
    low = bounds[0] // LIMIT_STEP * LIMIT_STEP
    return _widen((low, -(-bounds[1] // LIMIT_STEP) * LIMIT_STEP), LIMIT_STEP)


def _widen(bounds: tuple[int, int], step: int) -> tuple[int, int]:
    """A slider needs two different ends, even when every client has the same value."""
    return (bounds[0], max(bounds[1], bounds[0] + step))
