"""The model registry: immutable, versioned model pipelines, signed and checked.

Every artifact is stored with its sha256 and its signature (core.ml.signing: HMAC-SHA256
under the deployment's MODEL_SIGNING_KEY); both are checked before any unpickling.
"""

from __future__ import annotations

import hashlib
import pickle
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import metadata
from typing import Any

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.exc import IntegrityError

from core.auth import audit
from core.auth.access import SYSTEM, Actor, require
from core.clock import aware
from core.db.engine import connect
from core.db.schema import ChampionChange as ChampionChangeRow
from core.db.schema import ModelVersion
from core.ml.signing import is_signed, sign, signing_key

# Versions fit the registry's column (String(20)) and Decimal's precision with room to spare.
MAX_VERSION = Decimal("999999.9")
LIBRARIES = ("pycaret", "scikit-learn", "numpy", "pandas", "lightgbm")
TABLE = ModelVersion.__table__
CHANGES = ChampionChangeRow.__table__
# Everything but the pickled bytes and the evaluation, the two large columns (and the
# signature, which says nothing until it is checked against the bytes).
SUMMARY_COLUMNS = [
    c for c in TABLE.columns.keys() if c not in ("artifact", "evaluation", "signature")
]
# Bumped whenever this process saves a version or picks a champion, so caches of "which
# version is the default" drop their answer at once (other processes' changes: see callers).
_changes = 0


class VersionError(ValueError):
    """A version that is malformed, already used, or unknown."""


class ArtifactError(RuntimeError):
    """A stored model whose bytes fail their sha256 or signature check: never unpickled."""


class SignatureError(ArtifactError):
    """A stored model not signed with this deployment's MODEL_SIGNING_KEY: never unpickled."""


@dataclass(frozen=True)
class VersionSummary:
    """A model version as lists show it: everything but its evaluation and pickled bytes."""

    version: str
    job_id: str | None
    model_id: str
    model_name: str
    metric: str
    params: dict
    metrics: dict
    folds: int
    rows: int
    library_versions: dict
    sha256: str
    is_champion: bool
    created_at: datetime

    @property
    def score(self) -> float | None:
        """The version's cross-validated score on the metric it was chosen by."""
        return self.metrics.get(self.metric)

    @property
    def label(self) -> str:
        """How pickers name the version: "1.1: Decision Tree Classifier (champion)"."""
        return f"{self.version}: {self.model_name}" + (" (champion)" if self.is_champion else "")


@dataclass(frozen=True)
class VersionInfo(VersionSummary):
    """One model version with its holdout evaluation (curves, confusion, importance,
    holdout probabilities, a training sample): read one version at a time, by key."""

    evaluation: dict


def format_version(value: float | str | Decimal) -> str:
    """A version as stored: a positive number with one decimal ("1.0", "2.3")."""
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise VersionError(f"version {value!r} is not a number like 1.0") from None
    if not number.is_finite() or number <= 0:
        raise VersionError(f"version {value!r} must be a positive number like 1.0")
    if number > MAX_VERSION:
        raise VersionError(f"version {value!r} is too large; the highest is {MAX_VERSION}")
    if number != number.quantize(Decimal("0.1")):
        raise VersionError(f"version {value!r} has more than one decimal; use steps of 0.1")
    return str(number.quantize(Decimal("0.1")))


def library_versions() -> dict[str, str]:
    """The versions of Python and of the libraries a pickled pipeline depends on."""
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def save_version(
    connection: Connection,
    *,
    version: str,
    pipeline: Any,
    model_id: str,
    model_name: str,
    metric: str,
    params: dict,
    metrics: dict,
    folds: int,
    rows: int,
    evaluation: dict,
    job_id: str | None = None,
) -> str:
    """Store a pipeline under `version` inside the caller's transaction; return its sha256.

    The artifact is signed with this deployment's key (core.ml.signing); SettingsError
    when there is no usable key.

    The evaluation gets a "serving" record: whether the pipeline's compiled predictor
    (core.serving.compiled) gave its probabilities on sample rows, or why the pipeline
    itself serves. Raises VersionError when the version is already used: versions are
    immutable.
    """
    from core.serving.compiled import compile_pipeline

    global _changes
    version = format_version(version)
    _, verification = compile_pipeline(pipeline, evaluation.get("train_sample"))
    evaluation = {**evaluation, "serving": verification.as_dict()}
    artifact = pickle.dumps(pipeline, protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(artifact).hexdigest()
    signature = sign(version, artifact, signing_key())
    row = dict(
        version=version,
        job_id=job_id,
        model_id=model_id,
        model_name=model_name,
        metric=metric,
        params=_jsonable(params),
        metrics=_jsonable(metrics),
        folds=folds,
        rows=rows,
        library_versions=library_versions(),
        evaluation=_jsonable(evaluation),
        artifact=artifact,
        sha256=digest,
        signature=signature,
        is_champion=False,
        created_at=datetime.now(UTC),
    )
    try:
        with connection.begin_nested():
            connection.execute(TABLE.insert().values(**row))
    except IntegrityError:
        raise VersionError(f"version {version} is already used; versions are immutable") from None
    _changes += 1
    return digest


def changes() -> int:
    """How many versions this process has saved and champions it has set: a cache of the
    default version that saw another count must ask again."""
    return _changes


def _jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars, tuples and odd objects become numbers, lists, text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value else None  # NaN is not JSON
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return str(value)


def version_exists(engine: Engine, version: str) -> bool:
    """Whether `version` is already used in the registry."""
    with connect(engine) as connection:
        return version_used(connection, version)


def version_used(connection: Connection, version: str) -> bool:
    """`version_exists` on an open connection (a caller's other reads share it)."""
    version = format_version(version)
    found = connection.scalar(select(ModelVersion.version).where(ModelVersion.version == version))
    return found is not None


def list_versions(engine: Engine) -> list[VersionSummary]:
    """Every version, newest first, without evaluations or pickled bytes."""
    columns = [TABLE.c[name] for name in SUMMARY_COLUMNS]
    with connect(engine) as connection:
        rows = connection.execute(
            select(*columns).order_by(ModelVersion.created_at.desc())
        ).mappings()
        return [VersionSummary(**row) for row in rows]


def get_version(engine: Engine, version: str, parts: Sequence[str] | None = None) -> VersionInfo:
    """One version with its evaluation, fetched by key; VersionError when there is none.

    With `parts`, the evaluation holds only those of its keys (the ones it has): the
    database picks them out, so a view that draws curves does not read the holdout
    probabilities and the training sample, the bulk of an evaluation.
    """
    version = format_version(version)
    summary = [TABLE.c[name] for name in SUMMARY_COLUMNS]
    if parts is None:
        evaluation = [TABLE.c.evaluation]
    else:
        evaluation = [TABLE.c.evaluation[part].label(f"evaluation_{part}") for part in parts]
    with connect(engine) as connection:
        row = (
            connection.execute(select(*summary, *evaluation).where(ModelVersion.version == version))
            .mappings()
            .first()
        )
    if row is None:
        raise VersionError(f"no model version {version}")
    if parts is None:
        picked = row["evaluation"] or {}
    else:
        found = {part: row[f"evaluation_{part}"] for part in parts}
        picked = {part: value for part, value in found.items() if value is not None}
    return VersionInfo(**{name: row[name] for name in SUMMARY_COLUMNS}, evaluation=picked)


def next_version(engine: Engine) -> str:
    """One step (0.1) above the highest version, or 1.0 when none exists."""
    with connect(engine) as connection:
        return next_unused(connection)


def next_unused(connection: Connection) -> str:
    """`next_version` on an open connection (a caller's other reads share it)."""
    versions = [Decimal(v) for v in connection.scalars(select(ModelVersion.version))]
    return format_version(max(versions) + Decimal("0.1")) if versions else "1.0"


def champion_or_latest(versions: Sequence[VersionSummary]) -> str | None:
    """The version scoring uses by default: the champion, else the newest, else None.

    `versions` is newest first, as list_versions returns them.
    """
    champions = [v.version for v in versions if v.is_champion]
    if champions:
        return champions[0]
    return versions[0].version if versions else None


def default_version(engine: Engine) -> str | None:
    """The champion, else the newest version, else None."""
    return champion_or_latest(list_versions(engine))


class ChampionError(ValueError):
    """A champion change refused: no reason given for a challenger that is not
    significantly better, or a reason that cannot be stored."""


MAX_REASON = 2_000


@dataclass(frozen=True)
class ChampionChange:
    """One change of champion: the new one, the one it replaced (None for the first), the
    reason given, who made it and when (UTC)."""

    version: str
    previous: str | None
    reason: str
    actor: str
    at: datetime


def set_champion(
    engine: Engine,
    version: str,
    *,
    reason: str = "",
    better: bool | None = None,
    actor: Actor = SYSTEM,
) -> None:
    """Make `version` the default model for scoring (and no other); `actor` must be allowed
    to (core.auth). The change is written to the champion history (champion_history) and
    the audit log in the same transaction, with `reason`.

    When there is a champion already, a `reason` is required unless the new version is
    significantly better (its holdout AUC difference's 95% interval above 0):
    `better` is that verdict as the caller's comparison found it; None lets core compare
    the two (core.ml.challenger). ChampionError when refused; VersionError for an unknown
    version; ArtifactError (SignatureError) for one that scoring would refuse: a champion
    must be loadable. Making the champion the champion again changes nothing.
    """
    global _changes
    require(actor, "set_champion")
    version = format_version(version)
    reason = _checked_reason(reason)
    check_artifact(engine, version)
    previous = _champion(engine)
    if previous == version:
        return
    if previous is not None and not reason:
        why = ""
        if better is None:
            from core.ml.challenger import significantly_better

            better, why = significantly_better(engine, version, previous)
        if not better:
            raise ChampionError(
                f"version {version} is not significantly better than champion {previous}"
                + (f" ({why})" if why else "")
                + ": give a reason to make it the champion"
            )
    with connect(engine, write=True) as connection:
        exists = connection.scalar(
            select(ModelVersion.version).where(ModelVersion.version == version)
        )
        if exists is None:
            raise VersionError(f"no model version {version}")
        previous = connection.scalar(
            select(ModelVersion.version).where(ModelVersion.is_champion.is_(True))
        )
        connection.execute(update(ModelVersion).values(is_champion=False))
        connection.execute(
            update(ModelVersion).where(ModelVersion.version == version).values(is_champion=True)
        )
        connection.execute(
            CHANGES.insert().values(
                version=version,
                previous=previous,
                reason=reason,
                actor=actor.name[:100],
                at=datetime.now(UTC),
            )
        )
        detail = f"version {version} is champion" + (f": {reason}" if reason else "")
        audit.record(connection, actor, "champion_changed", detail)
    _changes += 1


def _checked_reason(reason: str | None) -> str:
    """The reason stripped; ChampionError naming the field when it cannot be stored."""
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise ChampionError(f"reason: at most {MAX_REASON:,} characters, not {len(reason):,}")
    if any(ord(c) < 32 and c not in "\n\t" for c in reason):
        raise ChampionError("reason: control characters are not allowed")
    return reason


def _champion(engine: Engine) -> str | None:
    with connect(engine) as connection:
        return connection.scalar(
            select(ModelVersion.version).where(ModelVersion.is_champion.is_(True))
        )


def champion_history(engine: Engine, limit: int = 100) -> list[ChampionChange]:
    """The newest `limit` champion changes, newest first."""
    query = select(CHANGES).order_by(CHANGES.c.at.desc(), CHANGES.c.id.desc()).limit(limit)
    with connect(engine) as connection:
        rows = connection.execute(query).mappings().all()
    return [
        ChampionChange(
            row["version"], row["previous"], row["reason"], row["actor"], aware(row["at"])
        )
        for row in rows
    ]


def load_pipeline(engine: Engine, version: str) -> Any:
    """The unpickled pipeline of `version`, cached in process.

    Its bytes are checked against their sha256 and their signature first: ArtifactError
    (SignatureError for a missing or wrong signature) and nothing unpickled when either
    fails; VersionError for an unknown version.
    """
    version = format_version(version)
    digest, signature = _checks(engine, version)
    return _load_checked(engine, version, digest, signature, signing_key())


def check_artifact(engine: Engine, version: str) -> None:
    """Raise ArtifactError (SignatureError) unless `version`'s bytes pass their sha256 and
    signature checks, as loading would; nothing is unpickled. A pass is remembered in
    process for the same stored sha256, signature and key."""
    version = format_version(version)
    digest, signature = _checks(engine, version)
    _checked_once(engine, version, digest, signature, signing_key())


def _checks(engine: Engine, version: str) -> tuple[str, str | None]:
    """The stored sha256 and signature of `version`; VersionError when there is none."""
    with connect(engine) as connection:
        row = connection.execute(
            select(ModelVersion.sha256, ModelVersion.signature).where(
                ModelVersion.version == version
            )
        ).first()
    if row is None:
        raise VersionError(f"no model version {version}")
    return row.sha256, row.signature


def _artifact(engine: Engine, version: str) -> bytes:
    with connect(engine) as connection:
        artifact = connection.scalar(
            select(ModelVersion.artifact).where(ModelVersion.version == version)
        )
    if artifact is None:
        raise VersionError(f"no model version {version}")
    return artifact


def _verify(version: str, artifact: bytes, digest: str, signature: str | None, key: bytes) -> None:
    actual = hashlib.sha256(artifact).hexdigest()
    if actual != digest:
        raise ArtifactError(
            f"model version {version} is damaged: its sha256 is {actual}, the registry says "
            f"{digest}; it was not loaded"
        )
    if not signature:
        raise SignatureError(
            f"model version {version} is not signed: saved before models were signed and "
            "changed since, or written into the registry by hand; refused, not loaded, "
            "retrain it"
        )
    if not is_signed(version, artifact, signature, key):
        raise SignatureError(
            f"model version {version} is not signed with this deployment's "
            "MODEL_SIGNING_KEY: refused, not loaded; set the key it was saved under, or "
            "retrain it"
        )


@lru_cache(maxsize=64)
def _checked_once(
    engine: Engine, version: str, digest: str, signature: str | None, key: bytes
) -> None:
    _verify(version, _artifact(engine, version), digest, signature, key)


@lru_cache(maxsize=16)
def _load_checked(
    engine: Engine, version: str, digest: str, signature: str | None, key: bytes
) -> Any:
    # The very bytes that passed the checks are the ones unpickled.
    artifact = _artifact(engine, version)
    _verify(version, artifact, digest, signature, key)
    return pickle.loads(artifact)
