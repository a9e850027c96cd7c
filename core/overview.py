"""What Home tells an analyst at a glance: the portfolio's figures, the champion, the latest
training job, whether recent scores are stable and the latest portfolio run. Each is one
cheap (or cached) query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from core import explore
from core.cache import QueryCache
from core.explore.filters import Filters
from core.jobs.store import Job, list_jobs
from core.ml.calibration import calibration_warning
from core.ml.evaluation import THRESHOLD
from core.ml.registry import VersionSummary, get_version, list_versions
from core.portfolio import Run, finished_run, list_runs
from core.serving.stability import DEFAULT_WINDOW, Index, score_stability
from core.vocabulary import MONTH_LABELS, STATUS_GROUPS

LAST_MONTH = 1  # the data set's month 1: September 2005, the latest
CARD_PARTS = ["holdout", "roc", "calibration"]
LATE_GROUPS = [name for name, low, _ in STATUS_GROUPS if low >= 1]
DEFAULT_POLICY = "the default: no policy threshold has been saved for this version yet"


@dataclass(frozen=True)
class Portfolio:
    """Every loaded client: how many, their default rate, average credit limit and the
    share at least one month late in the latest month (None when no payments)."""

    clients: int
    default_rate: float | None
    average_limit: float | None
    late_last_month: float | None
    month: str = MONTH_LABELS[LAST_MONTH]


@dataclass(frozen=True)
class ChampionCard:
    """The version scoring uses by default, as Home shows it.

    `champion` is False when no champion is chosen and the newest version stands in.
    `auc` is the holdout AUC (or the cross-validated one for versions without a holdout,
    `auc_source` says which). `calibration` is "calibrated", "miscalibrated" or None when
    it was never computed; `threshold` is the policy threshold and `threshold_note` where it
    comes from.
    """

    version: str
    model_name: str
    champion: bool
    created_at: datetime
    auc: float | None
    auc_source: str
    calibration: str | None
    calibration_warning: str | None
    threshold: float
    threshold_note: str


@dataclass(frozen=True)
class ModelOverview:
    """What Home shows of the model: the champion card and its score stability (None when
    the version stored no holdout probabilities)."""

    card: ChampionCard
    stability: Index | None


@dataclass(frozen=True)
class PortfolioRuns:
    """The newest portfolio run in any state (`latest`) and the newest finished one, whose
    summary holds the results (the same run when the newest has finished); None when there
    is no such run."""

    latest: Run | None
    finished: Run | None


def portfolio(engine: Engine, *, cache: QueryCache | None = None) -> Portfolio:
    """The portfolio's figures from the explore summaries, through `cache` (two queries,
    each cached until the data changes)."""
    everyone = Filters()
    shown = explore.figures(engine, everyone, cache=cache)
    totals = explore.payment_totals(engine, everyone, cache=cache)
    last = totals[totals["month"] == LAST_MONTH]
    late = None
    if len(last) and int(last["clients"].iloc[0]):
        late = float(last[LATE_GROUPS].sum(axis=1).iloc[0] / last["clients"].iloc[0])
    return Portfolio(shown.clients, shown.default_rate, shown.average_limit, late)


def champion_card(engine: Engine) -> ChampionCard | None:
    """The champion (else the newest version) with its AUC, calibration verdict and policy
    threshold; None when no version exists."""
    found = _champion(engine, CARD_PARTS)
    return None if found is None else _card(engine, *found)


def model_overview(engine: Engine, window: int = DEFAULT_WINDOW) -> ModelOverview | None:
    """The champion card and its score PSI over the newest `window` logged scores, from
    one read of the version's evaluation; None when no version exists."""
    found = _champion(engine, [*CARD_PARTS, "probabilities"])
    if found is None:
        return None
    chosen, evaluation = found
    index = score_stability(engine, chosen.version, window, evaluation=evaluation)
    return ModelOverview(_card(engine, chosen, evaluation), index)


def _champion(engine: Engine, parts: list[str]) -> tuple[VersionSummary, dict] | None:
    versions = list_versions(engine)
    if not versions:
        return None
    chosen = next((v for v in versions if v.is_champion), versions[0])
    return chosen, get_version(engine, chosen.version, parts=parts).evaluation


def _card(engine: Engine, chosen: VersionSummary, evaluation: dict) -> ChampionCard:
    auc = (evaluation.get("holdout") or {}).get("AUC") or (evaluation.get("roc") or {}).get("auc")
    source = "holdout"
    if auc is None:
        auc, source = chosen.metrics.get("AUC"), "cross-validated"
    threshold, note = policy_threshold(engine, chosen.version)
    return ChampionCard(
        version=chosen.version,
        model_name=chosen.model_name,
        champion=chosen.is_champion,
        created_at=chosen.created_at,
        auc=auc,
        auc_source=source,
        calibration=(evaluation.get("calibration") or {}).get("verdict"),
        calibration_warning=calibration_warning(evaluation),
        threshold=threshold,
        threshold_note=note,
    )


def policy_threshold(engine: Engine, version: str) -> tuple[float, str]:
    """(the threshold scoring uses by default for `version`, where it comes from): its
    saved policy threshold (core.serving.policy), else the 0.5 default."""
    from core.serving.policy import get_policy

    policy = get_policy(engine, version)
    if policy is None:
        return THRESHOLD, DEFAULT_POLICY
    return (
        policy.threshold,
        f"policy threshold, saved by {policy.set_by} on {policy.set_at:%Y-%m-%d}",
    )


def latest_job(engine: Engine) -> Job | None:
    """The most recently submitted training job, whatever its state; None before any."""
    jobs = list_jobs(engine, limit=1)
    return jobs[0] if jobs else None


def portfolio_runs(engine: Engine) -> PortfolioRuns:
    """The newest portfolio run (queued, running, failed or finished) and the newest
    finished one, in two small queries; reading never reaps a stale run."""
    newest = list_runs(engine, limit=1)
    latest = newest[0] if newest else None
    if latest is None or latest.state == "finished":
        return PortfolioRuns(latest, latest)
    return PortfolioRuns(latest, finished_run(engine))
