"""The Score form's shapes: six months as a table, and the table back into features.

Plain functions without Streamlit, so they are tested directly.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from core.vocabulary import BILLS, MONTH_LABELS, MONTHS, PAID, STATUS

MONTH_COLUMNS = ["Month", "Status", "Bill", "Paid"]
CLIENT_FIELDS = ["SEX", "EDUCATION", "MARRIAGE", "AGE", "LIMIT_BAL"]


def months_table(features: dict[str, int]) -> pd.DataFrame:
    """Six rows, the latest month (Sep 2005) first: repayment status, bill, amount paid."""
    rows = [
        [name, features[STATUS[m]], features[BILLS[m]], features[PAID[m]]]
        for m, name in enumerate(MONTH_LABELS.values())
    ]
    return pd.DataFrame(rows, columns=MONTH_COLUMNS)


def form_features(client: dict[str, Any], table: pd.DataFrame) -> dict[str, Any]:
    """The 23 features from the client fields and the months table; blank cells are None."""
    features = {name: _plain(client.get(name)) for name in CLIENT_FIELDS}
    for m in range(len(MONTHS)):
        row = table.iloc[m] if m < len(table) else {}
        features[STATUS[m]] = _plain(row.get("Status"))
        features[BILLS[m]] = _plain(row.get("Bill"))
        features[PAID[m]] = _plain(row.get("Paid"))
    return features


def _plain(value: Any) -> Any:
    """Numbers as Python numbers, blanks (None, NaN) as None, anything else as given."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        value = value.item()
        return None if isinstance(value, float) and value != value else value
    return value
