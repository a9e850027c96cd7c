"""Numbers, times and codes as a person reads them, for every page: one way to write money,
percentages, counts, timestamps and coded values, and "—" wherever a value is missing.

Plain functions, no Streamlit, tested directly (tests/dashboard/test_formats.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.vocabulary import LABELS, STATUS_LABELS

MISSING = "—"
MINUS = "−"  # a real minus sign: a hyphen reads as a dash in "−NT$ 1,234"
# Groups with fewer clients than this give rates too unsteady to read as they stand:
# charts and tables mark them (paler, "small group") and say so in a caption.
SMALL_GROUP = 30
SMALL_GROUP_NOTE = (
    f"Paler bars and cells marked “small group” rest on fewer than {SMALL_GROUP} clients: "
    "their rates can swing a lot from a few clients, so read them with care."
)


# Marks for states and verdicts. Markdown (headers, captions, Home's lines) gets Streamlit's
# Material icons, which need no emoji font: emoji such as ✅ and ⚠️ showed as empty boxes in
# a browser without one (Debian's Chromium). Plain text (table cells, option labels, metric
# values) gets words, or glyphs that ordinary text fonts carry (⚠ without the emoji variant).
STATE_MARKS = {
    "queued": ":gray[:material/hourglass_empty:]",
    "running": ":blue[:material/autorenew:]",
    "succeeded": ":green[:material/check_circle:]",
    "finished": ":green[:material/check_circle:]",
    "failed": ":red[:material/error:]",
    "cancelled": ":gray[:material/cancel:]",
}
VERDICT_MARKS = {
    "stable": ":green[:material/check_circle:]",
    "calibrated": ":green[:material/check_circle:]",
    "watch": ":orange[:material/visibility:]",
    "act": ":red[:material/warning:]",
    "miscalibrated": ":orange[:material/warning:]",
}
WARNING_SIGN = "⚠"  # U+26A0 as text: without U+FE0F it needs no emoji font


def marked(word: str) -> str:
    """`word` (a job state or a verdict) after its Material icon, for Markdown:
    ":green[:material/check_circle:] finished"; a word without a mark as it is."""
    mark = STATE_MARKS.get(word) or VERDICT_MARKS.get(word)
    return f"{mark} {word}" if mark else word


def money(amount: float | None) -> str:
    """An amount in New Taiwan dollars, the sign before the currency: "NT$ 1,234",
    "−NT$ 1,234"; "—" when there is none."""
    if amount is None or amount != amount:
        return MISSING
    rounded = round(amount)
    sign = MINUS if rounded < 0 else ""
    return f"{sign}NT$ {abs(rounded):,}"


def percent(share: float | None, digits: int = 1) -> str:
    """A share (0.253) as a percentage ("25.3%"); "—" when there is none."""
    if share is None or share != share:
        return MISSING
    text = f"{abs(share):.{digits}%}"
    return f"{MINUS}{text}" if share < 0 and text.strip("0.%") else text


def count(value: int | float | None) -> str:
    """A whole number with thousands separators ("24,000"); "—" when there is none."""
    if value is None or value != value:
        return MISSING
    rounded = round(value)
    return f"{MINUS}{abs(rounded):,}" if rounded < 0 else f"{rounded:,}"


def number(value: float | None, digits: int = 3) -> str:
    """A measure such as an AUC with `digits` decimals ("0.732"); "—" when there is none."""
    if value is None or value != value:
        return MISSING
    text = f"{abs(value):,.{digits}f}"
    return f"{MINUS}{text}" if value < 0 and text.strip("0.,") else text


def rate_of(share: float | None, clients: int, digits: int = 0) -> str:
    """A rate with the number of clients it is taken over: "50% of 2", "22.1% of 24,000"."""
    return f"{percent(share, digits)} of {count(clients)}"


def small(clients: int | None) -> bool:
    """Whether a group of `clients` is too small for its rate to be read as it stands."""
    return clients is not None and clients < SMALL_GROUP


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC; a time without a zone is taken to be UTC already (as stored)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def timestamp(moment: datetime | None) -> str:
    """A moment as people write it: "2 Dec 2026, 07:45 UTC"; "—" when there is none."""
    if moment is None:
        return MISSING
    moment = _utc(moment)
    return f"{moment.day} {moment:%b %Y, %H:%M} UTC"


def day(moment: datetime | None) -> str:
    """The date of a moment: "2 Dec 2026" (UTC); "—" when there is none."""
    if moment is None:
        return MISSING
    moment = _utc(moment)
    return f"{moment.day} {moment:%b %Y}"


def coded(column: str, code: int | None) -> str:
    """The word for a coded value: SEX 2 → "female", MARRIAGE 1 → "married", PAY_3 2 →
    "2 months late" (any PAY_n column); "—" when there is none, "code 9" when unknown."""
    if code is None or code != code:
        return MISSING
    column = column.upper()
    words = STATUS_LABELS if column.startswith("PAY_") else LABELS.get(column, {})
    return words.get(int(code), f"code {int(code)}")


def text(value: object) -> str:
    """Any value for a table cell or a sentence: "—" instead of None, NaN or ""."""
    if value is None or value != value or value == "":
        return MISSING
    return str(value)


CHAMPION_MARK = "★ champion"


def version_choice(info) -> str:
    """A model version as pickers list it, so versions tell apart at a glance: "1.1 ·
    Logistic Regression · AUC 0.714 · 2 Dec 2026, 08:01 UTC · ★ champion". `info` is a
    core.ml.registry VersionSummary."""
    parts = [info.version, text(info.model_name or info.model_id)]
    parts.append(f"AUC {number(info.metrics.get('AUC'))}")
    parts.append(timestamp(info.created_at))
    if info.is_champion:
        parts.append(CHAMPION_MARK)
    return " · ".join(parts)
