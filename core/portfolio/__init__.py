"""Portfolio scoring (issue 14): every client, or those matching the explore filters,
scored by one model version as a background job on the training runners (RQ, spread over
the listening workers, or the local worker), stored per run with its summary. Pages, the
API and the CLI call what is re-exported here."""

from core.portfolio.store import (
    PortfolioError,
    Run,
    check_inputs,
    finished_run,
    get_run,
    list_runs,
    reap_stale,
    run_scores,
    submit,
)
from core.serving.decisions import DEFAULT_LGD

__all__ = [
    "DEFAULT_LGD",
    "PortfolioError",
    "Run",
    "check_inputs",
    "finished_run",
    "get_run",
    "list_runs",
    "reap_stale",
    "run_scores",
    "submit",
]
