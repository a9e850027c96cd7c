"""The input model of one client's 23 features, shared by the form, batch files, CLI and API.

Field names are the data set's column names (`LIMIT_BAL`, `PAY_1`, `BILL_AMT1`, ...), so a
row of a CSV can be sent as it is; snake_case names (`limit_bal`, `pay_1`) are accepted too.
Bounds come from core.dataset.DOMAINS, which admit every row of the real data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
)

from core.data.dataset import (
    DOMAINS,
    MAX_PROBLEMS,
    DataError,
    Problem,
    canonical_name,
    parse_csv,
    quoted,
    validate_frame,
)
from core.vocabulary import FEATURES, ID, LABELS, MONTH_LABELS, STATUS_LABELS

DESCRIPTIONS = {
    "LIMIT_BAL": "credit limit (NT dollars)",
    "SEX": "sex (1 male, 2 female)",
    "EDUCATION": "education (1 graduate school, 2 university, 3 high school, 4 others, "
    "0/5/6 unknown)",
    "MARRIAGE": "marital status (1 married, 2 single, 3 others, 0 unknown)",
    "AGE": "age in years",
    **{
        f"PAY_{m}": f"repayment status in {name} (-2 no consumption, -1 paid duly, "
        "0 revolving credit, 1..9 months late)"
        for m, name in MONTH_LABELS.items()
    },
    **{f"BILL_AMT{m}": f"bill in {name}" for m, name in MONTH_LABELS.items()},
    **{f"PAY_AMT{m}": f"amount paid in {name}" for m, name in MONTH_LABELS.items()},
}

# Short plain names for charts and forms, and the repayment status codes in words.
TITLES = {
    "LIMIT_BAL": "Credit limit",
    "SEX": "Sex",
    "EDUCATION": "Education",
    "MARRIAGE": "Marital status",
    "AGE": "Age",
    **{f"PAY_{m}": f"Status {name}" for m, name in MONTH_LABELS.items()},
    **{f"BILL_AMT{m}": f"Bill {name}" for m, name in MONTH_LABELS.items()},
    **{f"PAY_AMT{m}": f"Paid {name}" for m, name in MONTH_LABELS.items()},
}


def describe_value(name: str, value: int) -> str:
    """A feature's value in words: codes by their label, amounts with thousands separators."""
    value = int(value)
    if name in LABELS:
        return LABELS[name].get(value, str(value))
    if name.startswith("PAY_") and not name.startswith("PAY_AMT"):
        return STATUS_LABELS.get(value, str(value))
    return f"{value:,}"


@dataclass(frozen=True)
class FieldProblem:
    """One invalid field: which one and what is wrong with it."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field} ({DESCRIPTIONS[self.field].split(' (')[0]}): {self.message}"


class InputError(ValueError):
    """A client's features that cannot be scored; `problems` names every bad field."""

    def __init__(self, problems: list[FieldProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class _Features(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    def as_dict(self) -> dict[str, int]:
        """The features under their data set names, in the data set's column order."""
        return {name: getattr(self, name) for name in FEATURES}


def _not_a_flag(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("a yes/no value is not a number")
    return value


WholeNumber = Annotated[int, BeforeValidator(_not_a_flag)]


def _field(name: str):
    low, high = DOMAINS[name]
    alias = AliasChoices(name, name.lower())
    return WholeNumber, Field(
        ge=low, le=high, validation_alias=alias, title=name, description=DESCRIPTIONS[name]
    )


ClientFeatures = create_model(
    "ClientFeatures",
    __base__=_Features,
    __doc__="One client's 23 features under the data set's column names.",
    **{name: _field(name) for name in FEATURES},
)


def validate_client(data: Mapping[str, Any] | BaseModel) -> BaseModel:
    """A ClientFeatures from a mapping; raise InputError naming every invalid field."""
    if isinstance(data, ClientFeatures):
        return data
    if isinstance(data, BaseModel):
        data = data.model_dump()
    values = {k: _missing_as_none(v) for k, v in dict(data).items()}
    try:
        return ClientFeatures.model_validate(values)
    except ValidationError as exc:
        raise InputError(_problems(exc)) from None


def _missing_as_none(value: Any) -> Any:
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _problems(exc: ValidationError) -> list[FieldProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]).upper() if error["loc"] else "input"
        problems.append(FieldProblem(field, _message(field, error)))
    order = {name: i for i, name in enumerate(FEATURES)}
    return sorted(problems, key=lambda p: order.get(p.field, len(order)))


def _message(field: str, error: dict) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "missing" or value is None:
        return "missing value"
    if kind in ("greater_than_equal", "less_than_equal"):
        low, high = DOMAINS[field]
        return f"{_shown(value)} is outside {low}..{high}"
    if kind == "int_from_float":
        return f"{value} is not a whole number"
    if kind in ("int_parsing", "int_type", "value_error"):
        return f"{quoted(value) if isinstance(value, str) else repr(value)} is not a whole number"
    return error["msg"]


def _shown(value: Any) -> str:
    """A number as a message shows it: a huge one by its number of digits."""
    if isinstance(value, int) and value.bit_length() > 100:
        if value.bit_length() > 14_000:  # str() refuses past 4,300 digits
            return "a number of over 4,000 digits"
        return f"a number of {len(str(abs(value))):,} digits"
    return str(value)


def features_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Any clients' features as validated integers in the canonical columns (`ID` first).

    Column names may be canonical, snake_case or a header variant of the data set; other
    columns (a target, results) are dropped, an `ID` column is kept (else ids 1..N). Raises
    core.dataset.DataError naming line (row 1 is line 2, as in a file) and column of every
    bad cell; nothing is returned from a bad frame.
    """
    names = {c: canonical_name(str(c)) for c in frame.columns}
    kept = {c: name for c, name in names.items() if name in (*FEATURES, ID)}
    _refuse_twice_named(kept)
    frame = frame[list(kept)].rename(columns=kept)
    _refuse_long_texts(frame)
    if set(FEATURES) <= set(frame.columns) and all(
        pd.api.types.is_integer_dtype(dtype) for dtype in frame.dtypes
    ):
        return validate_frame(frame)
    # Text, floats or gaps: the file validator gives the same messages as for an upload.
    return parse_csv(frame.to_csv(index=False).encode(), require_target=False)


# A cell of text longer than this is no number: named here, before it reaches the CSV reader.
MAX_TEXT = 100


def _refuse_twice_named(kept: dict) -> None:
    """DataError when two columns name the same feature (PAY_0 and PAY_1, say): which value
    to score would be a guess."""
    given: dict[str, list[str]] = {}
    for column, name in kept.items():
        given.setdefault(name, []).append(str(column))
    problems = [
        Problem(f"columns {' and '.join(map(quoted, columns))} both give {name}", None, name)
        for name, columns in given.items()
        if len(columns) > 1
    ]
    if problems:
        raise DataError(problems)


def _refuse_long_texts(frame: pd.DataFrame) -> None:
    problems = []
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        cells = frame[column]
        lengths = cells.map(lambda v: len(v) if isinstance(v, str) else 0).to_numpy()
        for position in np.flatnonzero(lengths > MAX_TEXT)[:MAX_PROBLEMS]:
            text = quoted(cells.iloc[position])
            problems.append(Problem(f"{text} is not a number", int(position) + 2, column))
    if problems:
        raise DataError(sorted(problems, key=lambda p: p.line))
