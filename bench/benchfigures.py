"""The figures a benchmark measures, in a form `bench/report.py` can tabulate.

A script records each figure it prints (`Figures.add`) and, when run with `--json PATH`,
writes them there. A figure is one measured number, the baseline measured in the same run
(if any), and the targets it should meet, on the number itself or on the ratio.

Imported by the scripts beside it (`python bench/<script>.py` puts this folder on the path).
"""

from __future__ import annotations

import argparse
import json
import operator
from dataclasses import asdict, dataclass, field
from pathlib import Path

COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Target:
    """`on` ("measured" or "ratio") compared by `op` with `value`, e.g. ratio >= 10."""

    on: str
    op: str
    value: float

    def met(self, figure: Figure) -> bool | None:
        number = figure.measured if self.on == "measured" else figure.ratio
        if number is None:
            return None
        return COMPARE[self.op](number, self.value)

    def text(self, unit: str) -> str:
        if self.on == "ratio":
            return f"ratio {self.op} {self.value:g}x"
        return f"{self.op} {self.value:g} {unit}".rstrip()


@dataclass(frozen=True)
class Figure:
    """One measured number. `lower_is_better` says which way the ratio runs: for times it is
    baseline / measured, for rates measured / baseline, so a ratio above 1 is always ours
    doing better."""

    bench: str
    what: str
    measured: float
    unit: str
    baseline: float | None = None
    baseline_what: str = ""
    targets: tuple[Target, ...] = ()
    lower_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.measured or not self.baseline:
            return None
        if self.lower_is_better:
            return self.baseline / self.measured
        return self.measured / self.baseline

    @property
    def met(self) -> bool | None:
        """True when every target is met, False when one is not, None without targets."""
        verdicts = [target.met(self) for target in self.targets]
        if not verdicts or None in verdicts:
            return None
        return all(verdicts)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> Figure:
        targets = tuple(Target(**target) for target in data.get("targets", ()))
        return cls(**{**data, "targets": targets})


def target(spec: str) -> Target:
    """`"< 2"` (on the measured number) or `"ratio >= 10"`."""
    words = spec.split()
    on = "ratio" if words[0] == "ratio" else "measured"
    op, value = words[-2:]
    if op not in COMPARE:
        raise ValueError(f"unknown comparison {op!r} in target {spec!r}")
    return Target(on, op, float(value))


@dataclass
class Figures:
    """The figures of one script's run, written as JSON when it ends."""

    bench: str
    figures: list[Figure] = field(default_factory=list)

    def add(
        self,
        what: str,
        measured: float,
        unit: str,
        *targets: str,
        baseline: float | None = None,
        baseline_what: str = "",
        lower_is_better: bool = True,
    ) -> Figure:
        figure = Figure(
            self.bench,
            what,
            float(measured),
            unit,
            None if baseline is None else float(baseline),
            baseline_what,
            tuple(target(spec) for spec in targets),
            lower_is_better,
        )
        self.figures.append(figure)
        return figure

    def write(self, path: str | Path | None) -> None:
        if path:
            rows = [figure.to_json() for figure in self.figures]
            Path(path).write_text(json.dumps(rows, indent=1))


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", metavar="PATH", help="also write the figures there (bench/report.py reads it)"
    )


def read(path: str | Path) -> list[Figure]:
    return [Figure.from_json(row) for row in json.loads(Path(path).read_text())]
