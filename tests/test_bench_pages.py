"""bench/pages.py's websocket driver reading a run's ForwardMsgs: the filter radio's widget
id, the page's hash and query string to send back, charts drawn, and exceptions as errors."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

PATH = Path(__file__).resolve().parents[1] / "bench" / "pages.py"
spec = importlib.util.spec_from_file_location("bench_pages", PATH)  # not the pages/ folder
bench_pages = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench_pages  # its dataclasses look themselves up there
spec.loader.exec_module(bench_pages)


def element(kind: str, **fields) -> ForwardMsg:
    message = ForwardMsg()
    getattr(message.delta.new_element, kind).MergeFrom(
        type(getattr(message.delta.new_element, kind))(**fields)
    )
    return message


def finished() -> ForwardMsg:
    message = ForwardMsg()
    message.script_finished = ForwardMsg.FINISHED_SUCCESSFULLY
    return message


def navigation(page_hash: str) -> ForwardMsg:
    message = ForwardMsg()
    message.navigation.page_script_hash = page_hash
    return message


def query(text: str) -> ForwardMsg:
    message = ForwardMsg()
    message.page_info_changed.query_string = text
    return message


def not_found() -> ForwardMsg:
    message = ForwardMsg()
    message.page_not_found.page_name = "nope"
    return message


def compile_error() -> ForwardMsg:
    message = ForwardMsg()
    message.session_event.script_compilation_exception.type = "SyntaxError"
    message.session_event.script_compilation_exception.message = "invalid syntax"
    return message


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([], {"finished": False, "charts": 0, "errors": []}),
        ([finished()], {"finished": True, "charts": 0, "errors": []}),
        (
            [element("plotly_chart"), element("plotly_chart"), finished()],
            {"finished": True, "charts": 2},
        ),
        (
            [element("radio", id="$$ID-abc-filter_defaulted", label="Defaulted")],
            {"radios": {"Defaulted": "$$ID-abc-filter_defaulted"}},
        ),
        ([element("slider", id="$$ID-age", label="Age")], {"radios": {}}),
        (
            [navigation("f00d"), query("defaulted=yes")],
            {"page_hash": "f00d", "query_string": "defaulted=yes"},
        ),
        ([navigation("f00d")], {"query_string": None}),  # no change: keep what was sent
        (
            [element("exception", type="KeyError", message="'age'"), finished()],
            {"errors": ["KeyError: 'age'"], "finished": True},
        ),
        ([not_found()], {"errors": ["page not found"]}),
        (
            [element("alert", body="Not available.\n\ndatabase: too many clients", format=1)],
            {"errors": ["error shown: database: too many clients"]},
        ),
        ([element("alert", body="No clients match.", format=3)], {"errors": []}),  # st.info
        ([compile_error()], {"errors": ["SyntaxError: invalid syntax"]}),
    ],
)
def test_run_reads_what_a_session_needs(messages, expected):
    run = bench_pages.Run()
    for message in messages:
        run.read(message)
    assert {name: getattr(run, name) for name in expected} == expected


def test_long_exception_messages_are_cut():
    run = bench_pages.Run()
    run.read(element("exception", type="ValueError", message="x" * 500))
    assert run.errors == [f"ValueError: {'x' * 120}"]
