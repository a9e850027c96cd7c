"""Database schema: the same SQLAlchemy models on SQLite and Postgres."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MONTHS = 6


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


class ModelVersion(Base):
    """One trained model: its pickled pipeline, how it was trained and how well it did.

    `version` is immutable and written once, with one decimal ("1.0", "1.1", ...).
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
    is_champion: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
