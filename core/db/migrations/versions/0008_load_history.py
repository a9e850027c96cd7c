"""The history of loads: every file or frame loaded, what it added and updated, and when.

`dataset` keeps one row (the current version and totals), so a second, smaller file
looked like the source of all the data. `loads` keeps one row per load instead: its
source, sha256, clients added, clients updated, payment rows written, whether it replaced
the data set, the totals after it, and when. A database loaded before this revision gets
one row for its current data, its added/updated counts unknown (NULL).

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "loads",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("replaced", sa.Boolean(), nullable=False),
        sa.Column("clients_added", sa.BigInteger(), nullable=True),
        sa.Column("clients_updated", sa.BigInteger(), nullable=True),
        sa.Column("payments_written", sa.BigInteger(), nullable=True),
        sa.Column("clients", sa.BigInteger(), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.execute(
        "INSERT INTO loads (version, source, sha256, replaced, clients, payments, loaded_at) "
        "SELECT version, source, sha256, false, clients, payments, loaded_at FROM dataset"
    )


def downgrade() -> None:
    op.drop_table("loads")
