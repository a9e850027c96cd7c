"""Reason codes and the exposure basis in portfolio runs (issue 14): the codes of the up to
four reasons owed to each declined client, largest first, comma-separated
("late_payments,high_balances"; none for approved clients), and whether a run's expected
loss took the credit limit or the latest bill as exposure (runs before this: the limit).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("portfolio_scores") as batch:
        batch.add_column(sa.Column("reasons", sa.String(80), nullable=True))
    with op.batch_alter_table("portfolio_runs") as batch:
        batch.add_column(
            sa.Column("exposure", sa.String(12), nullable=False, server_default="limit")
        )


def downgrade() -> None:
    with op.batch_alter_table("portfolio_runs") as batch:
        batch.drop_column("exposure")
    with op.batch_alter_table("portfolio_scores") as batch:
        batch.drop_column("reasons")
