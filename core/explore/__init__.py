"""The explore pages' questions answered in SQL over per-data-version summaries.

Pages and the API call the functions re-exported here; the modules say how each is answered.
"""

from core.explore.clients import (
    BREAKDOWNS,
    EXPORT_COLUMNS,
    LIMIT_BIN,
    SORTABLE,
    Bounds,
    ClientRecord,
    Figures,
    age_distribution,
    bounds,
    client_lookup,
    client_table,
    default_rates,
    export_csv,
    figures,
    limit_distribution,
)
from core.explore.medians import MEDIAN_COLUMNS, MedianSample, payment_medians, plan_median_sample
from core.explore.payments import (
    MONTH_COLUMNS,
    TOTAL_COLUMNS,
    join_medians,
    payment_months,
    payment_totals,
    status_transitions,
)
from core.explore.summaries import (
    CLIENT_SUMMARY,
    PAYMENT_SUMMARIES,
    refresh_summaries,
    refresh_summary,
    summary_version,
)

__all__ = [
    "BREAKDOWNS",
    "CLIENT_SUMMARY",
    "EXPORT_COLUMNS",
    "LIMIT_BIN",
    "MEDIAN_COLUMNS",
    "MONTH_COLUMNS",
    "PAYMENT_SUMMARIES",
    "SORTABLE",
    "TOTAL_COLUMNS",
    "Bounds",
    "ClientRecord",
    "Figures",
    "MedianSample",
    "age_distribution",
    "bounds",
    "client_lookup",
    "client_table",
    "default_rates",
    "export_csv",
    "figures",
    "join_medians",
    "limit_distribution",
    "payment_medians",
    "payment_months",
    "payment_totals",
    "plan_median_sample",
    "refresh_summaries",
    "refresh_summary",
    "status_transitions",
    "summary_version",
]
