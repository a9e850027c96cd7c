"""Database schema: the same SQLAlchemy models on SQLite and Postgres."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.vocabulary import MONTHS, STATUS_GROUP_KEYS


class Base(DeclarativeBase):
    pass


class Client(Base):
    """One credit-card client: the demographic columns and whether they defaulted."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    limit_bal: Mapped[int] = mapped_column(BigInteger)
    sex: Mapped[int] = mapped_column(SmallInteger)
    education: Mapped[int] = mapped_column(SmallInteger)
    marriage: Mapped[int] = mapped_column(SmallInteger)
    age: Mapped[int] = mapped_column(SmallInteger)
    defaulted: Mapped[bool] = mapped_column(Boolean)


class Payment(Base):
    """One client's month: month 1 is September 2005 (latest), month 6 April 2005."""

    __tablename__ = "payments"

    client_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    status: Mapped[int] = mapped_column(SmallInteger)
    bill_amt: Mapped[int] = mapped_column(BigInteger)
    pay_amt: Mapped[int] = mapped_column(BigInteger)


class Dataset(Base):
    """The loaded data set: a single row whose `version` changes at every load."""

    __tablename__ = "dataset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    clients: Mapped[int] = mapped_column(BigInteger)
    payments: Mapped[int] = mapped_column(BigInteger)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Deployment(Base):
    """One row: the id of this deployment, made with its database (RQ queues carry it)."""

    __tablename__ = "deployment"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)


class Load(Base):
    """One load of a file or frame: what it added and updated, the totals after it, when.

    The added/updated counts are NULL for the data of a database loaded before this
    history was kept (migration 0008).
    """

    __tablename__ = "loads"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    replaced: Mapped[bool] = mapped_column(Boolean)
    clients_added: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    clients_updated: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    payments_written: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    clients: Mapped[int] = mapped_column(BigInteger)
    payments: Mapped[int] = mapped_column(BigInteger)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ClientSummary(Base):
    """Clients counted per combination of the filterable columns (rebuilt per data version).

    It has the clients' column names, so the same filters select from it; the explore
    figures and charts read it instead of every client row.
    """

    __tablename__ = "client_summary"

    sex: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    education: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    marriage: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    age: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    limit_bal: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    defaulted: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    clients: Mapped[int] = mapped_column(BigInteger)


def _filter_columns(*, nullable_ranges: bool = False) -> list[Column]:
    """The clients' filterable columns, for the summaries that the same filters select from."""
    return [
        Column("sex", SmallInteger, nullable=False),
        Column("education", SmallInteger, nullable=False),
        Column("marriage", SmallInteger, nullable=False),
        Column("age", SmallInteger, nullable=nullable_ranges),
        Column("limit_bal", BigInteger, nullable=nullable_ranges),
        Column("defaulted", Boolean, nullable=False),
    ]


# One row per client: the filterable columns and the six months side by side (status_m,
# bill_m, paid_m; month 1 = Sep 2005). Rebuilt per data version; the exact medians read it
# without joining or grouping the payments, and the other summaries are built from it.
client_months = Table(
    "client_months",
    Base.metadata,
    *_filter_columns(),
    *(Column(f"status_{m}", SmallInteger) for m in MONTHS),
    *(Column(f"bill_{m}", Integer) for m in MONTHS),
    *(Column(f"paid_{m}", Integer) for m in MONTHS),
)

# The exact median bill and amount paid per month over every client: the Payments page's
# first view, which would otherwise sort all of client_months (2 s for a million clients).
overall_medians = Table(
    "overall_medians",
    Base.metadata,
    Column("month", SmallInteger, primary_key=True),
    Column("median_bill", Float),
    Column("median_paid", Float),
    Column("clients", Integer),  # values each median is taken over (clients with that month)
)

# Up to 200,000 clients drawn at random per data version, numbered 0, 1, ... by `draw` in
# the order drawn, so that `draw < n` is a uniform sample of n clients: the Payments page
# estimates medians under broad filters from it (core.queries.payment_medians).
median_sample = Table(
    "median_sample",
    Base.metadata,
    Column("draw", Integer, primary_key=True, autoincrement=False),
    *_filter_columns(),
    *(Column(f"bill_{m}", Integer) for m in MONTHS),
    *(Column(f"paid_{m}", Integer) for m in MONTHS),
)

# The two summaries below come at four grains: `grain` 3 per combination of the filterable
# columns (client_summary's key); 1 without limit_bal, 2 without age, 0 without either
# (those columns are NULL). A query reads the coarsest grain that its filters allow.

# Clients, and per month the sums of bills and payments and the clients in each
# repayment-status group (`<group>_<month>`): the monthly figures sum at most some 94,000
# rows (a million synthetic clients), not 6 million payments.
payment_summary = Table(
    "payment_summary",
    Base.metadata,
    Column("grain", SmallInteger, nullable=False),
    *_filter_columns(nullable_ranges=True),
    Column("clients", Integer, nullable=False),
    *(Column(f"bill_{m}", BigInteger) for m in MONTHS),
    *(Column(f"paid_{m}", BigInteger) for m in MONTHS),
    *(
        Column(f"{group}_{m}", Integer, nullable=False)
        for m in MONTHS
        for group in STATUS_GROUP_KEYS
    ),
    Index("ix_payment_summary_grain", "grain", "age", "limit_bal"),
)

# Clients whose repayment status went from `from_status` in month m + 1 to `to_status` in
# month m, per pair of months (`into_m`).
status_moves = Table(
    "status_moves",
    Base.metadata,
    Column("grain", SmallInteger, nullable=False),
    *_filter_columns(nullable_ranges=True),
    Column("from_status", SmallInteger, nullable=False),
    Column("to_status", SmallInteger, nullable=False),
    *(Column(f"into_{m}", Integer, nullable=False) for m in MONTHS[:-1]),
    Index("ix_status_moves_grain", "grain", "age", "limit_bal"),
)


class SummaryState(Base):
    """Which data version each set of derived summary tables was built from (core.queries:
    `client_summary`; `payments` for client_months, overall_medians, payment_summary and
    status_moves)."""

    __tablename__ = "summary_state"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)


class ModelVersion(Base):
    """One trained model: its pickled pipeline, how it was trained and how well it did.

    `version` is immutable and written once, with one decimal ("1.0", "1.1", ...).
    `signature` is the HMAC-SHA256 of version and artifact under the deployment's
    MODEL_SIGNING_KEY (core.ml.signing); NULL for a version that could not be signed.
    """

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(20), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    model_id: Mapped[str] = mapped_column(String(50))
    model_name: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict] = mapped_column(JSON)
    metrics: Mapped[dict] = mapped_column(JSON)
    folds: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    library_versions: Mapped[dict] = mapped_column(JSON)
    evaluation: Mapped[dict] = mapped_column(JSON)
    artifact: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str | None] = mapped_column(String(64), nullable=True)
    is_champion: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Prediction(Base):
    """One scored client: when, by which model version, its inputs and the answer.

    `source` says where the request came from: form, batch, cli or api. `label` is 1 when
    `probability` >= `threshold` (predicted default).
    """

    __tablename__ = "predictions"
    __table_args__ = (
        CheckConstraint("source IN ('form', 'batch', 'cli', 'api')", name="ck_predictions_source"),
        Index("ix_predictions_version_id", "version", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    version: Mapped[str] = mapped_column(String(20))
    inputs: Mapped[dict] = mapped_column(JSON)
    probability: Mapped[float] = mapped_column(Float)
    label: Mapped[int] = mapped_column(SmallInteger)
    threshold: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(10))


class TrainingJob(Base):
    """One training run: what was asked, where it is, and what came out.

    `state` goes queued -> running -> finished | failed | cancelled. Workers write
    `heartbeat_at` every few seconds while they run it, so a job whose worker died is
    marked failed. `stage` is preparing, training or finalizing while it runs.
    """

    __tablename__ = "training_jobs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'running', 'finished', 'failed', 'cancelled')",
            name="ck_training_jobs_state",
        ),
        Index("ix_training_jobs_state", "state"),
        Index("ix_training_jobs_submitted_at", "submitted_at"),
        # One active job per version (migration 0012): of two submissions of a version at
        # the same moment the second insert fails; a failed or cancelled job frees it.
        Index(
            "uq_training_jobs_active_version",
            "version",
            unique=True,
            postgresql_where=text("state IN ('queued', 'running')"),
            sqlite_where=text("state IN ('queued', 'running')"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(12))
    stage: Mapped[str | None] = mapped_column(String(20), nullable=True)
    version: Mapped[str] = mapped_column(String(20))
    folds: Mapped[int] = mapped_column(Integer)
    models: Mapped[list] = mapped_column(JSON)
    metric: Mapped[str] = mapped_column(String(20))
    sample_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fix_imbalance: Mapped[bool] = mapped_column(Boolean, default=False)
    calibrate: Mapped[str] = mapped_column(String(10), default="none", server_default="none")
    leave_out_protected: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    seed: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    models_done: Mapped[int] = mapped_column(Integer, default=0)
    models_total: Mapped[int] = mapped_column(Integer)
    current_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    runner: Mapped[str] = mapped_column(String(10))
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    best_model_id: Mapped[str | None] = mapped_column(String(50), nullable=True)
    best_model_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    best_score: Mapped[float | None] = mapped_column(Float, nullable=True)


class LeaderboardRow(Base):
    """One model of a training job: its cross-validated metrics (PyCaret's columns).

    `state` is pending, running, done, failed (the model raised; `error` says why) or
    skipped (the job stopped first). The row is written as soon as its model finishes.
    """

    __tablename__ = "leaderboard_rows"

    job_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("training_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[str] = mapped_column(String(50), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    model_name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(12))
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    auc: Mapped[float | None] = mapped_column(Float, nullable=True)
    recall: Mapped[float | None] = mapped_column(Float, nullable=True)
    precision: Mapped[float | None] = mapped_column(Float, nullable=True)
    f1: Mapped[float | None] = mapped_column(Float, nullable=True)
    kappa: Mapped[float | None] = mapped_column(Float, nullable=True)
    mcc: Mapped[float | None] = mapped_column(Float, nullable=True)
    brier: Mapped[float | None] = mapped_column(Float, nullable=True)
    log_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    tt_sec: Mapped[float | None] = mapped_column(Float, nullable=True)
    sd: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class User(Base):
    """A person who signs in: a unique name, a role and an argon2 password hash.

    `failed_logins` counts wrong passwords since the last good one; while `locked_until` is
    in the future, logins are refused without checking the password (core.auth.users).
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('viewer', 'analyst', 'admin')", name="ck_users_role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    """A user's API key: only its sha256 is stored, with the prefix that finds it."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("users.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """Who did what, and when: loads, trainings, champion changes, user management."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    detail: Mapped[str] = mapped_column(Text, default="")


class PolicyThreshold(Base):
    """A version's policy threshold: the cut-off scoring uses by default, chosen from costs
    (core.serving.decisions), with the costs it was chosen under and who saved it."""

    __tablename__ = "policy_thresholds"

    version: Mapped[str] = mapped_column(
        String(20), ForeignKey("model_versions.version", ondelete="CASCADE"), primary_key=True
    )
    threshold: Mapped[float] = mapped_column(Float)
    lgd: Mapped[float] = mapped_column(Float)
    exposure: Mapped[str] = mapped_column(String(10))
    margin: Mapped[float] = mapped_column(Float)
    set_by: Mapped[str] = mapped_column(String(100))
    set_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ChampionChange(Base):
    """One change of champion: the new one, the one it replaced (None for the first), the
    reason given (may be empty when the new one was significantly better), who and when."""

    __tablename__ = "champion_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    version: Mapped[str] = mapped_column(String(20))
    previous: Mapped[str | None] = mapped_column(String(20), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class PortfolioRun(Base):
    """One scoring of the portfolio (core.portfolio): which clients, which version, how far.

    `state` goes queued -> running -> finished | failed. The clients are split into
    `parts` (id ranges, one per worker); each part adds to `clients_done` per chunk and to
    `parts_done` when it ends, and the part that brings `parts_done` to the number of parts
    writes `summary` and `finished` in one transaction. `champion` says whether `version`
    was the champion when the run was asked for.
    """

    __tablename__ = "portfolio_runs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('queued', 'running', 'finished', 'failed')",
            name="ck_portfolio_runs_state",
        ),
        Index("ix_portfolio_runs_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(12))
    version: Mapped[str] = mapped_column(String(20))
    champion: Mapped[bool] = mapped_column(Boolean)
    threshold: Mapped[float] = mapped_column(Float)
    lgd: Mapped[float] = mapped_column(Float)
    # The exposure basis of the expected loss: "limit" (credit limit) or "bill" (latest bill).
    exposure: Mapped[str] = mapped_column(String(12), server_default="limit")
    filters: Mapped[dict] = mapped_column(JSON)
    parts: Mapped[list] = mapped_column(JSON)
    parts_done: Mapped[int] = mapped_column(Integer)
    clients_total: Mapped[int] = mapped_column(BigInteger)
    clients_done: Mapped[int] = mapped_column(BigInteger)
    runner: Mapped[str] = mapped_column(String(10))
    submitted_by: Mapped[str] = mapped_column(String(100))
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class PortfolioScore(Base):
    """One client of a portfolio run: probability of default, label, expected loss and, when
    declined, its reason codes."""

    __tablename__ = "portfolio_scores"

    run_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("portfolio_runs.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    probability: Mapped[float] = mapped_column(Float)
    label: Mapped[int] = mapped_column(SmallInteger)
    expected_loss: Mapped[float] = mapped_column(Float)
    # Codes of the reasons owed to a declined client, largest first, comma-separated.
    reasons: Mapped[str | None] = mapped_column(String(80), nullable=True)
