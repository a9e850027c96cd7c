"""Every bench script imports: `make bench` runs them only on request (over an hour), so a
helper moved between them would otherwise show only there (scoring_file.py once imported
`register` from a script that no longer had it)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"
SCRIPTS = sorted(path.stem for path in BENCH.glob("*.py"))
# Imported by the scripts, not run by `make bench`.
HELPERS = {"report", "benchfigures", "benchdb", "benchmodel", "frames", "old_app"}


@pytest.fixture(autouse=True)
def bench_on_the_path(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))  # as `python bench/<script>.py` has it


def load(name: str):
    """bench/NAME.py as module bench_NAME: `pages` and `api` are also this project's packages."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", SCRIPTS)
def test_the_script_imports(name):
    module = load(name)
    if name in HELPERS - {"report"}:
        return
    assert callable(getattr(module, "main", None)), f"bench/{name}.py has no main()"


def test_the_report_runs_every_script_there_is():
    report = load("report")
    assert set(report.SCRIPTS) == set(SCRIPTS) - HELPERS
