"""Score a CSV file of clients in chunks, so memory stays flat whatever the file's size.

A file is read twice, a chunk of rows at a time. The first pass validates every row (line
and column of each problem, counted across the whole file, ids unique across chunks); a
file with any problem is refused before anything is scored or logged. The second pass
scores each chunk, logs it and writes it to a temporary file beside the output, renamed to
the output only when the last chunk is written: a failure leaves no output, never half of
one. What the page shows is kept as a running summary (counts, mean probability, a
histogram over fixed bins), not as rows.
"""

from __future__ import annotations

import csv
import ctypes
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Engine

from core.auth.access import SYSTEM, Actor, require
from core.data.dataset import MAX_PROBLEMS, DataError, Problem, decode, map_header, parse_csv
from core.serving.policy import threshold_for
from core.serving.reasons import reason_columns
from core.serving.scoring import get_model, score_frame
from core.vocabulary import FEATURES, ID, TARGET

# Rows read, scored and written at a time: about 30 MB of working memory.
CHUNK_ROWS = 10_000
# Probability bins of the summary: [k/100, (k+1)/100) for k = 0..99, and one for exactly 1.
# Thresholds move in steps of 0.01, so counts at any such threshold are exact.
BINS = 100
EDGES = np.arange(BINS + 1) / BINS
MB = 1024 * 1024
# The Score page's results live in folders named so under the temporary folder, a day long:
# a browser session that ends does not say so, so each new folder sweeps the old ones.
RESULTS_PREFIX = "credit-scores-"
RESULTS_KEPT_SECONDS = 24 * 3600

# progress(done, total, stage): bytes handled of both passes, and what is being done.
Progress = Callable[[int, int, str], None]


class FileTooLarge(ValueError):
    """A scoring file above the size limit; the message names the limit and its setting."""


@dataclass
class FileScores:
    """A scored file: where the results are and a summary of them (no rows are held)."""

    path: Path | None  # None when written to a stream
    version: str
    threshold: float
    threshold_source: str = "given"
    rows: int = 0
    predicted: int = 0
    probability_sum: float = 0.0
    histogram: np.ndarray = field(default_factory=lambda: np.zeros(BINS + 1, dtype=np.int64))

    @property
    def mean_probability(self) -> float:
        """The mean probability of default over the file (NaN for no rows)."""
        return self.probability_sum / self.rows if self.rows else float("nan")

    def predicted_at(self, threshold: float) -> int:
        """Clients predicted to default at `threshold`: exact at the threshold the file was
        scored with and at multiples of 0.01, else counted by whole bins from above."""
        if threshold == self.threshold:
            return self.predicted
        first = int(np.ceil(round(threshold * BINS, 9)))
        return int(self.histogram[first:].sum())

    def add(self, probabilities: np.ndarray, labels: np.ndarray) -> None:
        """Count one scored chunk into the summary."""
        self.rows += len(probabilities)
        self.predicted += int(labels.sum())
        self.probability_sum += float(probabilities.sum())
        bins = np.searchsorted(EDGES, probabilities, side="right") - 1
        self.histogram += np.bincount(np.clip(bins, 0, BINS), minlength=BINS + 1)


def check_size(size: int, limit_mb: int | None) -> None:
    """Raise FileTooLarge when `size` bytes exceed `limit_mb` megabytes (None: no limit)."""
    if limit_mb is not None and size > limit_mb * MB:
        raise FileTooLarge(
            f"the file is {size / MB:,.1f} MB, more than the limit of {limit_mb:,} MB "
            "(setting SCORING_UPLOAD_MB)"
        )


def score_csv_file(
    engine: Engine,
    source: BinaryIO | str | Path,
    out: str | Path | BinaryIO,
    *,
    version: str | None = None,
    threshold: float | None = None,
    log_source: str | None = "batch",
    limit_mb: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
    reasons: bool = False,
    actor: Actor = SYSTEM,
) -> FileScores:
    """Validate and score a CSV of clients (any of the loader's headers, target optional)
    into the CSV `out` (a path, or a binary stream written chunk by chunk once the whole
    file is validated), a chunk at a time; return the summary.

    `source` is a path or a seekable binary file. The results have the columns of
    core.serving.scoring.score_file (ID, the features, the target when the file has one,
    probability, label) and the same values (floats read back exactly with pandas'
    `float_precision="round_trip"`). Raises FileTooLarge above `limit_mb`, and
    DataError naming line and column of every problem (the first MAX_PROBLEMS shown, all
    counted); then nothing is scored, logged or written. With `log_source` every score is
    written to the prediction log, a chunk per transaction. AccessDenied when `actor` may
    not score (core.auth), before anything is read. Without `threshold` the version's
    policy threshold is used, else 0.5 (core.serving.policy). With `reasons`, the columns
    reason_1..reason_4 (core.serving.reasons) follow the label.
    """
    require(actor, "score")
    if isinstance(source, str | Path):
        with open(source, "rb") as stream:
            return score_csv_file(
                engine,
                stream,
                out,
                version=version,
                threshold=threshold,
                log_source=log_source,
                limit_mb=limit_mb,
                chunk_rows=chunk_rows,
                progress=progress,
                reasons=reasons,
                actor=actor,
            )
    size = source.seek(0, os.SEEK_END)
    check_size(size, limit_mb)
    report = _Progress(progress, 2 * size)
    check_file(source, chunk_rows=chunk_rows, progress=report.checking)
    model = get_model(engine, version)  # one version for every chunk, whatever changes
    used = threshold_for(engine, model.version, threshold)
    path = None if _is_stream(out) else Path(out)
    scores = FileScores(path, model.version, used.value, used.described)
    with _written(out) as written:
        for first_line, first_id, block, _ in _chunks(source, chunk_rows, report.scoring):
            frame = parse_csv(block, False, first_line=first_line, first_id=first_id)
            results = score_frame(engine, frame, model.version, used.value, log_source)
            order = [ID, *FEATURES] + ([TARGET] if TARGET in frame.columns else [])
            results = results[[*order, "probability", "label"]]
            if reasons:
                results = pd.concat([results, reason_columns(model, results)], axis=1)
            _write_csv(results, written, header=scores.rows == 0)
            scores.add(results["probability"].to_numpy(), results["label"].to_numpy())
            _give_back_memory()
    return scores


def _give_back_memory() -> None:
    """Return the memory freed by a chunk to the system (glibc keeps it otherwise, and a
    million-row file's peak creeps up chunk after chunk); nothing elsewhere."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


_LIBC = _libc() if sys.platform.startswith("linux") else None


def check_file(
    source: BinaryIO, *, chunk_rows: int = CHUNK_ROWS, progress: Callable[[int], None] | None = None
) -> int:
    """Validate every row of a CSV of clients, a chunk at a time; return how many rows.

    Raises DataError as parse_csv does for the whole file: each problem by the file's line
    and column, ids unique across the file.
    """
    _check_header(source)
    problems: list[Problem] = []
    total, rows = 0, 0
    ids: list[np.ndarray] = []
    lines: list[np.ndarray] = []
    for first_line, first_id, block, row_lines in _chunks(source, chunk_rows, progress):
        try:
            frame = parse_csv(block, False, first_line=first_line, first_id=first_id)
        except DataError as exc:
            problems.extend(exc.problems)
            total += exc.total
            continue
        rows += len(frame)
        if len(row_lines) != len(frame):  # quoted line breaks: lines are not rows
            row_lines = np.arange(len(frame)) + first_line
        ids.append(frame[ID].to_numpy())
        lines.append(np.asarray(row_lines, dtype=np.int64))
    if not rows and not total:
        raise DataError([Problem("the file has a header but no data rows")])
    repeated = _repeated_ids(ids, lines)
    problems.extend(repeated)
    total += len(repeated)
    if total:
        problems.sort(key=lambda p: p.line or 0)
        raise DataError(problems[:MAX_PROBLEMS], total=total)
    return rows


def _check_header(source: BinaryIO) -> None:
    """Raise DataError once for a header that is not the data set's, before any chunk."""
    source.seek(0)
    header = decode(source.readline())
    if not header.strip():
        raise DataError([Problem("the file is empty")])
    map_header(next(csv.reader([header])), require_target=False)


def _repeated_ids(ids: list[np.ndarray], lines: list[np.ndarray]) -> list[Problem]:
    """Ids that appear in more than one chunk (parse_csv checks within one)."""
    if len(ids) < 2:
        return []
    every, where = np.concatenate(ids), np.concatenate(lines)
    order = np.argsort(every, kind="stable")
    ordered = every[order]
    again = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
    problems = []
    for position in again:
        start = position
        while start > 0 and ordered[start - 1] == ordered[position]:
            start -= 1
        line, first = int(where[order[position]]), int(where[order[start]])
        message = f"id {ordered[position]} already appears on line {first}"
        problems.append(Problem(message, line, ID))
    return problems


def _chunks(
    source: BinaryIO, chunk_rows: int, progress: Callable[[int], None] | None
) -> Iterator[tuple[int, int, bytes, list[int]]]:
    """(first line, first id, header + up to chunk_rows lines, the lines holding rows) for
    each chunk of the file, from its start."""
    source.seek(0)
    header = source.readline()
    if not header.strip():
        raise DataError([Problem("the file is empty")])
    if not header.endswith(b"\n"):
        header += b"\n"
    line, first_id, done = 2, 1, len(header)
    while part := list(islice(source, chunk_rows)):
        row_lines = [line + i for i, text in enumerate(part) if text.rstrip(b"\r\n")]
        done += sum(map(len, part))
        if row_lines:
            yield line, first_id, header + b"".join(part), row_lines
        first_id += len(row_lines)
        line += len(part)
        if progress is not None:
            progress(done)


class _Progress:
    """Bytes done of both passes, reported to a Progress callback."""

    def __init__(self, progress: Progress | None, total: int):
        self.progress, self.total = progress, max(total, 1)

    def checking(self, done: int) -> None:
        if self.progress is not None:
            self.progress(done, self.total, "checking")

    def scoring(self, done: int) -> None:
        if self.progress is not None:
            self.progress(self.total // 2 + done, self.total, "scoring")


def _write_csv(results: pd.DataFrame, out: BinaryIO, header: bool) -> None:
    """Write a chunk of results as CSV: Arrow's writer, about 4x faster than pandas', with
    floats written so that they read back exactly."""
    table = pa.Table.from_pandas(results, preserve_index=False)
    options = pa_csv.WriteOptions(include_header=header, quoting_header="none")
    pa_csv.write_csv(table, out, options)


def _is_stream(out) -> bool:
    return hasattr(out, "write")


def _written(out):
    """Where results go: a stream as they come, or a path through a temporary file."""
    return nullcontext(out) if _is_stream(out) else _replacing(Path(out))


class _replacing:
    """A file written beside `path` and renamed to it on success, removed on failure."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        handle, self.temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part"
        )
        self.file = os.fdopen(handle, "wb")
        return self.file

    def __exit__(self, kind, error, trace) -> None:
        self.file.close()
        if kind is None:
            os.replace(self.temporary, self.path)
        else:
            os.unlink(self.temporary)


def results_folder(base: str | Path | None = None, keep_seconds: float = RESULTS_KEPT_SECONDS):
    """A new folder for one scored file's results (under `base`, default the temporary
    folder); results folders not touched for `keep_seconds` are removed first."""
    base = Path(base or tempfile.gettempdir())
    now = time.time()
    for old in base.glob(f"{RESULTS_PREFIX}*"):
        try:
            if old.is_dir() and now - old.stat().st_mtime > keep_seconds:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:  # gone already: another session swept it
            continue
    return Path(tempfile.mkdtemp(prefix=RESULTS_PREFIX, dir=base))


def read_results(path: str | Path, rows: int | None = None) -> pd.DataFrame:
    """The results of a scored file (the first `rows` of them), as they were scored."""
    return pd.read_csv(path, nrows=rows, float_precision="round_trip")
