"""Client filters: one frozen value, its URL query-string form and its SQL WHERE clause.

The same filters apply to any table with the clients' columns (`clients` and the summaries
built from it: `client_summary`, `client_months`, `payment_summary`, `status_moves`), so
every explore query shares one definition of "matching".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

from sqlalchemy import ColumnElement, FromClause, and_, true

from core.data.dataset import DOMAINS
from core.vocabulary import LABELS

# Every code each choice column can hold, the data's undocumented codes included.
CHOICES: dict[str, tuple[int, ...]] = {
    "sex": tuple(LABELS["SEX"]),
    "education": tuple(LABELS["EDUCATION"]),
    "marriage": tuple(LABELS["MARRIAGE"]),
}
RANGES: dict[str, tuple[int, int]] = {
    "age": DOMAINS["AGE"],
    "limit_bal": DOMAINS["LIMIT_BAL"],
}
# Query-string names: short and readable in a shared link.
PARAMS = {"sex": "sex", "education": "education", "marriage": "marriage", "age": "age"}
PARAMS |= {"limit_bal": "limit", "defaulted": "defaulted"}
YES_NO = {"yes": True, "no": False}
# Link values: whole numbers are ASCII digits, at most 18 of them (more than any bound here),
# and a value named in a message is cut to SHOWN_CHARACTERS.
MAX_DIGITS = 18
WHOLE_NUMBER = re.compile(r"-?[0-9]+", re.ASCII)
SHOWN_CHARACTERS = 40


class FilterError(ValueError):
    """A filter value that cannot be used; the message names the filter and the value."""


def label(column: str, code: int) -> str:
    """The plain label of a code of `sex`, `education` or `marriage`."""
    return LABELS[column.upper()].get(code, f"code {code}")


@dataclass(frozen=True)
class Filters:
    """Which clients to look at. Empty choices and `None` mean "all".

    Values are normalised on creation (codes sorted, a choice of every code dropped), so
    equal selections compare, hash and cache equal.
    """

    sex: tuple[int, ...] = ()
    education: tuple[int, ...] = ()
    marriage: tuple[int, ...] = ()
    age: tuple[int, int] | None = None
    limit_bal: tuple[int, int] | None = None
    defaulted: bool | None = None

    def __post_init__(self):
        for name, allowed in CHOICES.items():
            object.__setattr__(self, name, _choice(name, getattr(self, name), allowed))
        for name, domain in RANGES.items():
            object.__setattr__(self, name, _range(name, getattr(self, name), domain))
        if self.defaulted is not None and not isinstance(self.defaulted, bool):
            raise FilterError(f"defaulted: {self.defaulted!r} is not yes, no or all")

    @property
    def empty(self) -> bool:
        return self == Filters()

    def where(self, table: FromClause) -> ColumnElement[bool]:
        """The WHERE clause selecting matching rows of `table`; values are bound parameters."""
        columns, conditions = table.c, []
        for name in CHOICES:
            if codes := getattr(self, name):
                conditions.append(columns[name].in_(codes))
        for name in RANGES:
            bounds = getattr(self, name)
            if bounds is not None:
                conditions.append(columns[name].between(*bounds))
        if self.defaulted is not None:
            conditions.append(columns.defaulted == self.defaulted)
        return and_(true(), *conditions)

    def to_query(self) -> dict[str, str]:
        """The filters as URL query parameters; filters left at "all" are omitted."""
        query = {}
        for name in CHOICES:
            if codes := getattr(self, name):
                query[PARAMS[name]] = ",".join(str(code) for code in codes)
        for name in RANGES:
            if bounds := getattr(self, name):
                query[PARAMS[name]] = f"{bounds[0]}-{bounds[1]}"
        if self.defaulted is not None:
            query[PARAMS["defaulted"]] = "yes" if self.defaulted else "no"
        return query

    def describe(self) -> str:
        """The filters in words, for captions: "female; age 25-40", or "all clients"."""
        parts = []
        for name in CHOICES:
            if codes := getattr(self, name):
                parts.append(" or ".join(label(name, code) for code in codes))
        if self.age:
            parts.append(f"age {self.age[0]}-{self.age[1]}")
        if self.limit_bal:
            parts.append(f"credit limit {self.limit_bal[0]:,}-{self.limit_bal[1]:,}")
        if self.defaulted is not None:
            parts.append("defaulted" if self.defaulted else "did not default")
        return "; ".join(parts) or "all clients"


def from_query(query: Mapping[str, str | list[str]]) -> tuple[Filters, list[str]]:
    """Filters from URL query parameters, and what was ignored and why.

    A shared link must still open: a value that cannot be used is left out and named in
    the returned problems rather than raised. Unknown parameters are not ours and pass.
    """
    values, problems = {}, []
    for field in fields(Filters):
        raw = _last(query, PARAMS[field.name], problems)
        if raw is None:
            continue
        try:
            values[field.name] = _parse(field.name, raw.strip())
            Filters(**{field.name: values[field.name]})
        except FilterError as exc:
            values.pop(field.name, None)
            problems.append(f"{PARAMS[field.name]}={shown(raw)} was ignored: {exc}")
    return Filters(**values), problems


def id_from_query(
    query: Mapping[str, str | list[str]], name: str, largest: int
) -> tuple[int | None, list[str]]:
    """A client id (1..largest) from the URL parameter `name`, and what was ignored and why;
    None when the link has no usable one."""
    problems: list[str] = []
    raw = _last(query, name, problems)
    if raw is None:
        return None, problems
    number = whole_number(raw)
    if number is None:
        problems.append(f"{name}={shown(raw)} was ignored: it is not a whole number")
    elif not 1 <= number <= largest:
        problems.append(f"{name}={shown(raw)} was ignored: ids run from 1 to {largest:,}")
        number = None
    return number, problems


def _last(query: Mapping[str, str | list[str]], name: str, problems: list[str]) -> str | None:
    """The last value of parameter `name` (a link may repeat it), stripped; None when absent
    or empty. Values passed over are named in `problems`."""
    raw = query.get(name)
    if isinstance(raw, list):
        if len(raw) > 1:
            earlier = ", ".join(shown(value) for value in raw[:-1][:3])
            more = ", ..." if len(raw) > 4 else ""
            problems.append(
                f"{name} appears {len(raw):,} times in the link: the last one counts, "
                f"{earlier}{more} ignored"
            )
        raw = raw[-1] if raw else None
    if raw is None:
        return None
    if raw.strip() == "":
        problems.append(f"{name}={shown(raw)} was ignored: it is empty")
        return None
    return raw.strip()


def _parse(name: str, raw: str):
    if name in CHOICES:
        return tuple(_integer(name, part) for part in raw.split(","))
    if name in RANGES:
        low, sep, high = raw.partition("-")
        if not sep:
            raise FilterError(f"{PARAMS[name]}: {shown(raw)} is not a range like 25-40")
        return (_integer(name, low), _integer(name, high))
    if raw.lower() not in YES_NO:
        raise FilterError(f"defaulted: {shown(raw)} is not yes or no")
    return YES_NO[raw.lower()]


def _integer(name: str, text: str) -> int:
    number = whole_number(text)
    if number is None:
        raise FilterError(f"{PARAMS[name]}: {shown(text.strip())} is not a whole number")
    return number


def whole_number(text: str, max_digits: int = MAX_DIGITS) -> int | None:
    """`text` as a whole number when it is ASCII digits (an optional minus first, spaces
    around) and at most `max_digits` long, else None.

    Stricter than int(): "²" and "١٢" are digits to Python but not numbers in a link, "1_000"
    is not a number either, and a number of thousands of digits is refused before int()
    spends time on it (or raises on it past 4,300 digits).
    """
    text = text.strip()
    if len(text) > max_digits + 1 or not WHOLE_NUMBER.fullmatch(text):
        return None
    if len(text.removeprefix("-")) > max_digits:
        return None
    return int(text)


def shown(value: str, limit: int = SHOWN_CHARACTERS) -> str:
    """A value from outside, quoted for a message: control characters escaped, cut to
    `limit` characters with its length said."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value):,} characters)"


def _choice(name: str, codes, allowed: tuple[int, ...]) -> tuple[int, ...]:
    codes = tuple(sorted(set(codes)))
    unknown = [code for code in codes if code not in allowed]
    if unknown:
        raise FilterError(
            f"{name}: {', '.join(map(str, unknown))} is not a code "
            f"(known: {', '.join(map(str, allowed))})"
        )
    return () if codes == allowed else codes


def _range(name: str, bounds, domain: tuple[int, int]) -> tuple[int, int] | None:
    if bounds is None:
        return None
    low, high = (int(value) for value in bounds)
    if low > high:
        raise FilterError(f"{PARAMS[name]}: {low}-{high} starts above where it ends")
    if low < domain[0] or high > domain[1]:
        raise FilterError(f"{PARAMS[name]}: {low}-{high} is outside {domain[0]:,}-{domain[1]:,}")
    return (low, high)
