"""Clients, their six months of payments, and the loaded data set.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", sa.BigInteger(), autoincrement=False, primary_key=True),
        sa.Column("limit_bal", sa.BigInteger(), nullable=False),
        sa.Column("sex", sa.SmallInteger(), nullable=False),
        sa.Column("education", sa.SmallInteger(), nullable=False),
        sa.Column("marriage", sa.SmallInteger(), nullable=False),
        sa.Column("age", sa.SmallInteger(), nullable=False),
        sa.Column("defaulted", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "payments",
        sa.Column(
            "client_id",
            sa.BigInteger(),
            sa.ForeignKey("clients.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("month", sa.SmallInteger(), primary_key=True),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("bill_amt", sa.BigInteger(), nullable=False),
        sa.Column("pay_amt", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("clients", sa.BigInteger(), nullable=False),
        sa.Column("payments", sa.BigInteger(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("dataset")
    op.drop_table("payments")
    op.drop_table("clients")
