"""Policy thresholds: the cut-off each version scores at by default, saved from the Decisions
page (core.serving.decisions), and which threshold a scoring call uses and where it came from.

A threshold given by the caller wins ("given"); else the version's policy threshold ("policy
threshold of version 1.2"); else DEFAULT_THRESHOLD ("0.5 default"). A process trusts what it
read about a version's policy for POLICY_SECONDS, so the API asks the database at most once
a second per version, and a policy saved in this process counts at once.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select

from core.auth import audit
from core.auth.access import SYSTEM, Actor, require
from core.clock import aware
from core.db.engine import connect
from core.db.schema import PolicyThreshold
from core.ml.registry import VersionError, format_version, version_exists
from core.serving.decisions import Costs, client_exposure, exposure

DEFAULT_THRESHOLD = 0.5
POLICY_SECONDS = 1.0
GIVEN = "given"
DEFAULT = "default"
POLICY = "policy"
TABLE = PolicyThreshold.__table__


@dataclass(frozen=True)
class Policy:
    """A saved policy threshold, the costs it was chosen under, who saved it and when."""

    version: str
    threshold: float
    costs: Costs
    set_by: str
    set_at: datetime


@dataclass(frozen=True)
class Threshold:
    """The threshold a scoring call used, and where it came from (GIVEN, POLICY, DEFAULT)."""

    value: float
    source: str
    version: str | None = None

    @property
    def described(self) -> str:
        """Where the threshold came from, in words."""
        if self.source == POLICY:
            return f"policy threshold of version {self.version}"
        if self.source == DEFAULT:
            return f"{self.value:g} default"
        return "given"


def save_policy(
    engine: Engine, version: str, threshold: float, costs: Costs, *, actor: Actor = SYSTEM
) -> Policy:
    """Make `threshold` (0..1) `version`'s policy threshold, replacing any before, with the
    costs it was chosen under; audited in `actor`'s name, who must be allowed to set_policy.
    VersionError for an unknown version, ValueError for a threshold outside 0..1."""
    require(actor, "set_policy")
    version = format_version(version)
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold: {threshold} is outside 0..1")
    if not version_exists(engine, version):
        raise VersionError(f"no model version {version}")
    policy = Policy(version, float(threshold), costs, actor.name[:100], datetime.now(UTC))
    with connect(engine, write=True) as connection:
        connection.execute(delete(TABLE).where(TABLE.c.version == version))
        connection.execute(
            insert(TABLE).values(
                version=version,
                threshold=policy.threshold,
                lgd=costs.lgd,
                exposure=costs.exposure,
                margin=costs.margin,
                set_by=policy.set_by,
                set_at=policy.set_at,
            )
        )
        detail = (
            f"version {version}: policy threshold {threshold:.2f} (LGD {costs.lgd:.0%}, "
            f"exposure {costs.exposure}, margin {costs.margin:.1%})"
        )
        audit.record(connection, actor, "policy_set", detail)
    # counts at once for every engine of this process on the same database
    for known_engine, versions in list(_known.items()):
        if known_engine.url == engine.url:
            versions[version] = (time.monotonic(), policy)
    _known.setdefault(engine, {})[version] = (time.monotonic(), policy)
    return policy


def get_policy(engine: Engine, version: str) -> Policy | None:
    """`version`'s saved policy threshold, or None when none was saved."""
    version = format_version(version)
    with connect(engine) as connection:
        row = connection.execute(select(TABLE).where(TABLE.c.version == version)).mappings().first()
    if row is None:
        return None
    costs = Costs(lgd=row["lgd"], exposure=row["exposure"], margin=row["margin"])
    return Policy(version, float(row["threshold"]), costs, row["set_by"], aware(row["set_at"]))


# engine -> {version: (when read, Policy or None)}; engines are not kept alive by it.
_known: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached_policy(engine: Engine, version: str) -> Policy | None:
    known = _known.get(engine, {}).get(version)
    if known is not None and time.monotonic() - known[0] < POLICY_SECONDS:
        return known[1]
    policy = get_policy(engine, version)
    _known.setdefault(engine, {})[version] = (time.monotonic(), policy)
    return policy


def policy_known(engine: Engine, version: str) -> bool:
    """Whether threshold_for(engine, version) reads nothing from the database now."""
    known = _known.get(engine, {}).get(version)
    return known is not None and time.monotonic() - known[0] < POLICY_SECONDS


def threshold_for(engine: Engine, version: str, given: float | None = None) -> Threshold:
    """The threshold to score `version` at: `given` when not None, else its policy
    threshold, else DEFAULT_THRESHOLD; with where it came from."""
    if given is not None:
        return Threshold(float(given), GIVEN, version)
    policy = _cached_policy(engine, version)
    if policy is not None:
        return Threshold(policy.threshold, POLICY, version)
    return Threshold(DEFAULT_THRESHOLD, DEFAULT, version)


def costs_for(engine: Engine, version: str) -> Costs:
    """The costs `version`'s policy threshold was chosen under, else the default Costs."""
    policy = _cached_policy(engine, version)
    return policy.costs if policy is not None else Costs()


def expected_losses(engine: Engine, version: str, results: pd.DataFrame) -> np.ndarray:
    """Each scored client's expected loss, PD x LGD x EAD, under costs_for(engine, version):
    what expected_loss gives one client, for a frame with probability, LIMIT_BAL and
    BILL_AMT1 (a scored file's results)."""
    costs = costs_for(engine, version)
    probability = results["probability"].to_numpy(dtype=float)
    return probability * costs.lgd * exposure(results, costs.exposure)


def expected_loss(engine: Engine, version: str, probability: float, client: dict) -> float:
    """One client's expected loss, PD x LGD x EAD, under costs_for(engine, version); `client`
    holds at least LIMIT_BAL and BILL_AMT1."""
    costs = costs_for(engine, version)
    return probability * costs.lgd * client_exposure(client, costs.exposure)
