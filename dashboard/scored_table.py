"""A scored file's results as the Score page shows them: the columns an analyst looks for
first (client, probability, decision, expected loss, main reason), headers in words, codes
as their labels. The downloadable CSV keeps its machine columns; only the view changes."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.serving.schemas import TITLES
from core.vocabulary import BILLS, FEATURES, ID, LABELS, PAID, STATUS, STATUS_LABELS, TARGET

MISSING = "—"
DECISIONS = {0: "Approve", 1: "Decline"}
REASONS = [f"reason_{n}" for n in range(1, 5)]
MONEY = ["LIMIT_BAL", *BILLS, *PAID]
CLIENT = "Client"
PROBABILITY = "Probability of default"
DECISION = "Decision"
LOSS = "Expected loss (NT$)"
MAIN_REASON = "Main reason"
DEFAULTED = "Defaulted (in the file)"


def results_table(results: pd.DataFrame, losses) -> pd.DataFrame:
    """`results` (read_results: ID, the features, default when the file had it,
    probability, label, reason_1..reason_4) with each client's expected loss `losses`,
    as the table to show: key columns first, then the other reasons and the features."""
    table = pd.DataFrame(
        {
            CLIENT: results[ID],
            PROBABILITY: results["probability"] * 100,
            DECISION: results["label"].map(DECISIONS),
            LOSS: losses,
        }
    )
    for number, reason in enumerate(REASONS, start=1):
        if reason in results:
            header = MAIN_REASON if number == 1 else f"Reason {number}"
            table[header] = results[reason].fillna(MISSING).replace("", MISSING)
    for name in FEATURES:
        table[TITLES[name]] = in_words(name, results[name])
    if TARGET in results:
        table[DEFAULTED] = results[TARGET].map({0: "no", 1: "yes"})
    return table


def in_words(name: str, values: pd.Series) -> pd.Series:
    """A feature's codes as their labels (sex, education, statuses); numbers stay numbers."""
    labels = LABELS.get(name) or (STATUS_LABELS if name in STATUS else None)
    if labels is None:
        return values
    return values.map(lambda code: labels.get(int(code), str(code)))


def results_columns(threshold: float) -> dict:
    """The table's st.column_config: percent, NT$ with thousands separators, and help on the
    decision at the threshold the file was scored with."""
    money = st.column_config.NumberColumn(format="NT$ %,d")
    return {
        CLIENT: st.column_config.NumberColumn(format="%d", pinned=True),
        PROBABILITY: st.column_config.NumberColumn(format="%.1f%%"),
        DECISION: st.column_config.TextColumn(
            help=f"Decline when the probability is at or above {threshold:.2f}"
        ),
        LOSS: st.column_config.NumberColumn(
            format="%,d", help="Probability × loss given default × exposure"
        ),
        **{TITLES[name]: money for name in MONEY},
        TITLES["AGE"]: st.column_config.NumberColumn(format="%d"),
    }
