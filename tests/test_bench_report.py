"""bench/report.py on sample results: each figure's ratio and verdict, the table, and the
marked section of docs/PERFORMANCE.md replaced with the prose around it kept."""

from __future__ import annotations

import datetime
import json

import pytest

import report
from benchfigures import Figure, Figures, Target, read, target

MACHINE = {
    "cores": "2",
    "CPU": "Example CPU @ 2.0GHz",
    "RAM": "23.4 GiB",
    "Python": "3.11.7",
    "Postgres": "15.8",
    "Redis": "7.0.15",
    "load": "1.5",
}
WHEN = datetime.datetime(2026, 12, 2, 8, 30, tzinfo=datetime.UTC)


def sample() -> list[Figure]:
    figures = Figures("ingest")
    figures.add("real file: validate + COPY", 1.68, "s", "< 2", "ratio >= 10",
                baseline=24.55, baseline_what="ORM row by row")  # fmt: skip
    figures.add("1,000,000 synthetic clients", 95.0, "s", "< 90")
    figures.add("requests | served", 800.0, "req/s", ">= 500", "ratio >= 50",
                baseline=10.0, lower_is_better=False)  # fmt: skip
    figures.add("score with reasons", 1.5, "ms", baseline=0.3)
    return figures.figures


@pytest.mark.parametrize(
    ("index", "ratio", "met"),
    [
        (0, 24.55 / 1.68, True),  # a time: baseline over ours
        (1, None, False),  # over its target, no baseline
        (2, 80.0, True),  # a rate: ours over the baseline
        (3, 0.3 / 1.5, None),  # no target: no verdict
    ],
)
def test_ratio_and_verdict(index, ratio, met):
    figure = sample()[index]
    assert figure.ratio == pytest.approx(ratio) if ratio else figure.ratio is None
    assert figure.met is met


@pytest.mark.parametrize(
    ("spec", "on", "op", "value"),
    [("< 2", "measured", "<", 2.0), ("ratio >= 0.909", "ratio", ">=", 0.909)],
)
def test_targets_are_read_from_their_text(spec, on, op, value):
    assert target(spec) == Target(on, op, value)


def test_a_target_with_an_unknown_comparison_is_refused():
    with pytest.raises(ValueError, match="unknown comparison"):
        target("about 2")


def test_figures_survive_their_json(tmp_path):
    figures = Figures("ingest", sample())
    figures.write(tmp_path / "ingest.json")
    assert read(tmp_path / "ingest.json") == sample()
    assert json.loads((tmp_path / "ingest.json").read_text())[0]["targets"][0]["op"] == "<"


def test_the_machine_is_described_by_every_field():
    about = report.machine()
    assert set(about) == set(MACHINE)
    assert about["cores"].isdigit() and about["Python"].startswith("3.11")


def test_the_table_has_a_row_per_figure_with_every_column():
    lines = report.table(sample())
    assert lines[0] == ("| bench | what | target | measured | baseline (same run) | ratio | met? |")
    assert lines[2] == (
        "| ingest | real file: validate + COPY | < 2 s; ratio >= 10x | 1.68 s | "
        "24.6 s: ORM row by row | 14.6x | yes |"
    )
    assert lines[3].endswith("| < 90 s | 95.0 s |  |  | **no** |")
    assert "requests \\| served" in lines[4]  # a | in a cell does not split it
    assert lines[4].endswith(
        "| >= 500 req/s; ratio >= 50x | 800 req/s | 10.0 req/s | 80.0x | yes |"
    )
    assert lines[5].endswith("| 1.50 ms | 0.30 ms | 0.20x |  |")


def test_the_section_names_the_machine_the_date_and_what_is_missing():
    text = report.section(sample(), MACHINE, WHEN, ["bench/api.py exited with 1"])
    assert text.startswith(report.START) and text.endswith(report.END)
    assert "Run on 2026-12-02 08:30 UTC: 2 cores (Example CPU @ 2.0GHz), 23.4 GiB RAM" in text
    assert "Python 3.11.7, Postgres 15.8, Redis 7.0.15; load average 1.5 at the end." in text
    assert "Scripts: ingest." in text
    assert "Targets met: 2 of 3." in text
    assert "- bench/api.py exited with 1" in text


PROSE = "# Performance\n\n## Training\n\nWhy the ratios are below 1.\n"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (PROSE, "# Performance\n\nNEW\n\n## Training\n\nWhy the ratios are below 1.\n"),
        (
            f"# Performance\n\n{report.START}\nOLD\n{report.END}\n\n## Training\n",
            "# Performance\n\nNEW\n\n## Training\n",
        ),
        ("No title.\n", "NEW\n\nNo title.\n"),
    ],
    ids=["first run: after the title", "later runs: between the markers", "no title"],
)
def test_the_generated_section_replaces_only_its_own(document, expected):
    assert report.replace_section(document, "NEW") == expected


def test_writing_twice_keeps_one_section_and_the_prose(tmp_path):
    document = tmp_path / "PERFORMANCE.md"
    document.write_text(PROSE)
    results = tmp_path / "ingest.json"
    Figures("ingest", sample()).write(results)
    for _ in range(2):
        report.write_document(document, read(results), [], MACHINE, WHEN)
    text = document.read_text()
    assert text.count(report.START) == 1
    assert text.count("| ingest | real file: validate + COPY |") == 1
    assert text.endswith("## Training\n\nWhy the ratios are below 1.\n")
