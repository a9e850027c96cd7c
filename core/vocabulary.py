"""The words of the data set, in one place: columns, months, status and code labels, metric
names. Everything that shows, parses or stores them imports them from here.

Months are numbered as the data set numbers them: 1 is September 2005 (the latest), 6 is
April 2005 (the oldest). Charts read left to right, so they walk CHART_MONTHS.
"""

from __future__ import annotations

# ----------------------------------------------------------------------------- columns
MONTHS = range(1, 7)  # the data set's month numbers: 1 = Sep 2005 ... 6 = Apr 2005
CHART_MONTHS = tuple(reversed(MONTHS))  # oldest (Apr 2005) first
DEMOGRAPHICS = ["LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE"]
STATUS = [f"PAY_{m}" for m in MONTHS]
BILLS = [f"BILL_AMT{m}" for m in MONTHS]
PAID = [f"PAY_AMT{m}" for m in MONTHS]
FEATURES = DEMOGRAPHICS + STATUS + BILLS + PAID
TARGET = "default"
ID = "ID"

# ----------------------------------------------------------------------------- months
MONTH_LABELS = {
    1: "Sep 2005",
    2: "Aug 2005",
    3: "Jul 2005",
    4: "Jun 2005",
    5: "May 2005",
    6: "Apr 2005",
}

# ----------------------------------------------------------------------------- codes
LABELS = {
    "SEX": {1: "male", 2: "female"},
    "EDUCATION": {
        0: "undocumented (0)",
        1: "graduate school",
        2: "university",
        3: "high school",
        4: "others",
        5: "unknown (5)",
        6: "unknown (6)",
    },
    "MARRIAGE": {0: "undocumented (0)", 1: "married", 2: "single", 3: "others"},
}
STATUS_LABELS = {-2: "no consumption", -1: "paid duly", 0: "revolving credit"}
STATUS_LABELS |= {n: f"{n} month{'s' if n > 1 else ''} late" for n in range(1, 10)}
# A quirk of the data set (about 2,900 clients in Sep 2005, a few dozen in all earlier months
# together), said wherever a status legend or chart shows it.
ONE_MONTH_LATE_NOTE = (
    "“1 month late” is recorded almost only in the latest month (Sep 2005) of this data "
    "set; earlier months hardly ever use it, so a move to or from it between months says "
    "more about how the data was recorded than about the clients."
)
# Repayment-status groups of the Payments page: (label, lowest code, highest code), and
# the column names payment_summary counts them under, in the same order.
STATUS_GROUPS = (
    ("no consumption", -2, -2),
    ("paid duly", -1, -1),
    ("revolving credit", 0, 0),
    ("1 month late", 1, 1),
    ("2 months late", 2, 2),
    ("3+ months late", 3, 9),
)
STATUS_GROUP_KEYS = ("no_consumption", "paid_duly", "revolving", "late_1", "late_2", "late_3plus")
GROUP_KEYS = dict(zip((g[0] for g in STATUS_GROUPS), STATUS_GROUP_KEYS, strict=True))
PREDICTIONS = {0: "Not default", 1: "Default"}

# ----------------------------------------------------------------------------- metrics
# PyCaret's leaderboard columns and the leaderboard_rows columns that hold them.
COLUMNS = {
    "Accuracy": "accuracy",
    "AUC": "auc",
    "Recall": "recall",
    "Prec.": "precision",
    "F1": "f1",
    "Kappa": "kappa",
    "MCC": "mcc",
    "Brier": "brier",
    "Log Loss": "log_loss",
    "TT (Sec)": "tt_sec",
}
# The metrics a model can be picked by, AUC (the default) first.
METRICS = ["AUC", "Accuracy", "Recall", "Prec.", "F1", "Kappa", "MCC", "Brier", "Log Loss"]
# Errors of the probabilities: the best model has the lowest. Every other metric: highest.
LOWER_IS_BETTER = frozenset({"Brier", "Log Loss"})
METRIC_ALIASES = {
    **{m.lower(): m for m in METRICS},
    "precision": "Prec.",
    "prec": "Prec.",
    "brier score": "Brier",
    "logloss": "Log Loss",
    "log_loss": "Log Loss",
}


def best_first(metric: str) -> bool:
    """Whether sorting on `metric` descending puts the best model first."""
    return metric not in LOWER_IS_BETTER


# Protected attributes: what "leave out protected attributes" drops from a model's inputs.
PROTECTED = ("SEX", "AGE", "MARRIAGE")
