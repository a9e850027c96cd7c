"""The credit data set's columns, header variants and row validation. No I/O here."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from core.vocabulary import BILLS, FEATURES, ID, PAID, STATUS, TARGET

# Value domains as they occur in the real file, its undocumented codes included:
# EDUCATION 0, MARRIAGE 0, repayment status -2 (no consumption) and 0 (revolving),
# negative bills (credit balance). Amounts get generous bounds, not the file's extremes.
DOMAINS: dict[str, tuple[int, int]] = {
    "LIMIT_BAL": (1, 100_000_000),
    "SEX": (1, 2),
    "EDUCATION": (0, 6),
    "MARRIAGE": (0, 3),
    "AGE": (18, 120),
    **{c: (-2, 9) for c in STATUS},
    **{c: (-100_000_000, 100_000_000) for c in BILLS},
    **{c: (0, 100_000_000) for c in PAID},
    TARGET: (0, 1),
    ID: (1, 2**62),
}


# Other names that public copies of this data set give to the same columns.
ALIASES = {
    "PAY_0": "PAY_1",
    "DEFAULT PAYMENT NEXT MONTH": TARGET,
    "DEFAULT.PAYMENT.NEXT.MONTH": TARGET,
    "Y": TARGET,
    **{f"X{i}": name for i, name in enumerate(FEATURES, start=1)},
}
CANONICAL = {name.upper(): name for name in [*FEATURES, TARGET, ID]}

MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located by line and column when it can be."""

    message: str
    line: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class DataError(ValueError):
    """An input file that cannot be used; `problems` lists what and where."""

    def __init__(self, problems: list[Problem], total: int | None = None):
        self.problems = problems[:MAX_PROBLEMS]
        self.total = total if total is not None else len(problems)
        super().__init__(self.summary())

    def moved(self, lines: int) -> DataError:
        """The same problems with every data line (2 and on) moved down by `lines`."""
        if not lines:
            return self
        problems = [
            replace(p, line=p.line + lines) if p.line is not None and p.line >= 2 else p
            for p in self.problems
        ]
        return DataError(problems, total=self.total)

    def summary(self) -> str:
        lines = [str(p) for p in self.problems]
        if self.total > len(self.problems):
            lines.append(f"... and {self.total - len(self.problems)} more problems")
        return "\n".join(lines)


class _Report:
    """Problems found so far: the first MAX_PROBLEMS kept, all of them counted."""

    def __init__(self):
        self.problems: list[Problem] = []
        self.total = 0

    def add(self, problem: Problem) -> None:
        self.total += 1
        if len(self.problems) < MAX_PROBLEMS * 5:
            self.problems.append(problem)

    def flag(self, mask: np.ndarray, lines: np.ndarray, column: str, explain, values) -> None:
        for pos in np.flatnonzero(mask)[:MAX_PROBLEMS]:
            self.add(Problem(explain(values.iloc[pos]), int(lines[pos]), column))
        self.total += max(0, int(mask.sum()) - MAX_PROBLEMS)

    def raise_if_any(self) -> None:
        if self.total:
            ordered = sorted(self.problems, key=lambda p: p.line or 0)
            raise DataError(ordered, total=self.total)


def canonical_name(name: str) -> str | None:
    """The data set's name for a header cell, or None when it is not one of ours."""
    key = name.strip().strip('"').strip().upper()
    return CANONICAL.get(key) or ALIASES.get(key)


def map_header(names: list[str], require_target: bool = True) -> dict[str, str]:
    """Map each header cell to its canonical column; raise DataError naming what is off."""
    mapping: dict[str, str] = {}
    unknown, clashes = [], []
    for name in names:
        canonical = canonical_name(name)
        if canonical is None:
            unknown.append(name.strip() or "(blank)")
        elif canonical in mapping.values():
            first = next(k for k, v in mapping.items() if v == canonical)
            clashes.append(f"{first!r} and {name!r} are both {canonical}")
        else:
            mapping[name] = canonical
    required = FEATURES + ([TARGET] if require_target else [])
    missing = [c for c in required if c not in mapping.values()]
    if not (unknown or clashes or missing):
        return mapping
    parts = []
    if missing:
        parts.append("missing columns: " + ", ".join(missing))
    if unknown:
        parts.append("unknown columns: " + ", ".join(unknown))
    parts.extend(clashes)
    raise DataError([Problem("header not recognised; " + "; ".join(parts), line=1)])


def decode(data: bytes) -> str:
    """Decode UTF-8 text (a BOM is allowed); name the line of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex().upper()
        raise DataError(
            [Problem(f"byte 0x{byte} is not UTF-8 text; save the file as UTF-8", line=line)]
        ) from None


def parse_csv(
    data: bytes, require_target: bool = True, *, first_line: int = 2, first_id: int = 1
) -> pd.DataFrame:
    """Parse and validate a data file; return a frame with `ID`, the features and target.

    Clients without an ID column get ids first_id.. in file order (1..N for a whole file).
    Raises DataError listing every problem (line and column) up to a limit; nothing is
    returned from a bad file. A part of a larger file is its header line followed by some
    of its rows: `first_line` is the file's line number of the first of them, so problems
    name the lines of the whole file, and `first_id` the id the first row gets.
    """
    try:
        frame = _parse_csv(data, require_target)
    except DataError as exc:
        raise exc.moved(first_line - 2) from None
    if first_id != 1 and not _has_id_column(data):
        frame[ID] += first_id - 1
    return frame


def _parse_csv(data: bytes, require_target: bool) -> pd.DataFrame:
    text = decode(data)
    if not text.strip():
        raise DataError([Problem("the file is empty")])
    header = next(csv.reader(io.StringIO(text)))
    mapping = map_header(header, require_target)
    numbers = _clean_numbers(data, header, mapping)
    if numbers is not None:
        return _finish(numbers, np.arange(len(numbers)) + 2, ID in numbers.columns, _Report())
    return _checked_cells(text, header, mapping)


def _has_id_column(data: bytes) -> bool:
    header = data.split(b"\n", 1)[0].decode("utf-8-sig")
    return ID in {canonical_name(name) for name in next(csv.reader([header]))}


def _clean_numbers(data: bytes, header: list[str], mapping: dict[str, str]):
    """The fast path: the whole file as whole numbers, or None when any cell needs a message.

    `data` is the file's bytes, already known to decode: pandas reads them without the
    copies a str would cost (io.StringIO holds four bytes a character)."""
    if _has_blank_line(data):
        return None  # blank lines would shift line numbers
    try:
        frame = pd.read_csv(
            io.BytesIO(data), header=None, skiprows=1, dtype=np.float64, skip_blank_lines=False
        )
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if frame.shape[1] != len(header):
        return None
    frame.columns = header
    frame = frame.rename(columns=mapping)[list(mapping.values())]
    values = frame.to_numpy()
    with np.errstate(invalid="ignore"):  # inf % 1 is NaN: the slow path names the cell
        fractional = (values % 1 != 0).any()
    if frame.empty or np.isnan(values).any() or fractional:
        return None
    return frame


def _has_blank_line(data: bytes) -> bool:
    """Whether a line other than those ending the file is empty (LF or CRLF endings)."""
    end = len(data)
    while end and data[end - 1] in b"\r\n":
        end -= 1
    return data.find(b"\n\n", 0, end) >= 0 or data.find(b"\n\r\n", 0, end) >= 0


def _checked_cells(text: str, header: list[str], mapping: dict[str, str]) -> pd.DataFrame:
    """The slow path: every cell as text, so each problem can be named by line and column."""
    reader = csv.reader(io.StringIO(text))
    next(reader)
    rows, lines, report = [], [], _Report()
    try:
        for row in reader:
            if not row or row == [""]:
                continue  # blank line
            if len(row) != len(header):
                fewer = "fewer" if len(row) < len(header) else "more"
                message = f"{len(row)} fields, {fewer} than the header's {len(header)}"
                report.add(Problem(message, reader.line_num))
                continue
            rows.append(row)
            lines.append(reader.line_num)
    except csv.Error as exc:  # a field past csv's size limit, a NUL byte: reading stops here
        report.add(Problem(f"cannot be read as CSV ({exc})", reader.line_num))
        report.raise_if_any()
    if not rows and not report.total:
        raise DataError([Problem("the file has a header but no data rows")])
    raw = pd.DataFrame(rows, columns=header).rename(columns=mapping)
    raw = raw[[c for c in raw.columns if c in mapping.values()]]
    return validate_cells(raw, np.array(lines, dtype=np.int64), report)


def validate_cells(raw: pd.DataFrame, lines: np.ndarray, report: _Report) -> pd.DataFrame:
    """Check text cells, one row per entry of `lines`, and return them as integers."""
    numbers = {}
    for column in raw.columns:
        cells = raw[column].str.strip()
        numbers[column] = _to_numbers(column, cells, lines, report)
    frame = pd.DataFrame(numbers, index=raw.index)
    return _finish(frame, lines, ID in frame.columns, report)


def validate_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate a numeric frame of canonical columns (synthetic data, forms, uploads)."""
    frame = frame.reset_index(drop=True)
    lines = frame.index.to_numpy() + 2
    return _finish(frame, lines, ID in frame.columns, _Report())


def _to_numbers(column: str, cells: pd.Series, lines: np.ndarray, report: _Report) -> pd.Series:
    numbers = pd.to_numeric(cells, errors="coerce")
    empty = (cells == "").to_numpy()
    report.flag(empty, lines, column, lambda v: "missing value", cells)
    report.flag(
        numbers.isna().to_numpy() & ~empty,
        lines,
        column,
        lambda v: f"{quoted(v)} is not a number",
        cells,
    )
    fractional = (numbers % 1 != 0).to_numpy() & numbers.notna().to_numpy()
    report.flag(fractional, lines, column, lambda v: f"{v} is not a whole number", cells)
    return numbers.mask(fractional)


def _finish(frame: pd.DataFrame, lines: np.ndarray, has_ids: bool, report: _Report):
    for column in frame.columns:
        lo, hi = DOMAINS[column]
        values = frame[column]
        outside = ((values < lo) | (values > hi)).to_numpy()
        explain = f"is outside {lo}..{hi}"
        report.flag(outside, lines, column, lambda v, e=explain: f"{_plain(v)} {e}", values)
    report.raise_if_any()
    frame = frame.astype(np.int64)
    if has_ids:
        report = _Report()
        _check_unique_ids(frame[ID], lines, report)
        report.raise_if_any()
    else:
        frame.insert(0, ID, np.arange(1, len(frame) + 1, dtype=np.int64))
    order = [ID, *FEATURES] + ([TARGET] if TARGET in frame.columns else [])
    return frame[order].reset_index(drop=True)


def quoted(value: object, limit: int = 40) -> str:
    """A value from a file quoted for a message, cut to `limit` characters."""
    text = str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def _plain(value) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _check_unique_ids(ids: pd.Series, lines: np.ndarray, report: _Report) -> None:
    duplicated = ids.duplicated(keep="first").to_numpy()
    first_line = pd.Series(lines, index=ids.index).groupby(ids).transform("min").to_numpy()
    for pos in np.flatnonzero(duplicated)[:MAX_PROBLEMS]:
        report.add(
            Problem(
                f"id {ids.iloc[pos]} already appears on line {first_line[pos]}", int(lines[pos]), ID
            )
        )
    report.total += max(0, int(duplicated.sum()) - MAX_PROBLEMS)
