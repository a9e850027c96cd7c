"""The exact monthly medians over every client, kept with the Payments page's summaries.

Unfiltered, the Payments page (its first view) would sort each month's bills and payments
of every client on every uncached run: about 2 s for a million clients on Postgres. The
`payments` summary set now computes them once per data version into this table. UNLOGGED
on Postgres like the other derived tables; a crash empties it with summary_state, and the
next query rebuilds the set.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "overall_medians",
        sa.Column("month", sa.SmallInteger(), primary_key=True),
        sa.Column("median_bill", sa.Float(), nullable=True),
        sa.Column("median_paid", sa.Float(), nullable=True),
        prefixes=["UNLOGGED"] if postgres else [],
    )
    # Summaries built before this table existed must be rebuilt to fill it (0: no data yet).
    op.execute("UPDATE summary_state SET version = 0 WHERE name = 'payments'")


def downgrade() -> None:
    op.drop_table("overall_medians")
