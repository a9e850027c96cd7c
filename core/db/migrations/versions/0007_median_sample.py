"""A random sample of clients for the Payments page's medians under broad filters.

An exact median sorts every matching value: under a filter that matches a few hundred
thousand of a million clients that is 0.5-1.5 s on Postgres, and no summary answers it
(an exact median of an arbitrary subset cannot be added up from per-group parts). The
`payments` summary set now also draws `median_sample`: up to 200,000 clients in random
order, numbered by `draw`, so that a query reads a uniform sample of any size from its
first rows. `overall_medians` gains `clients`: how many values each median is taken over.
UNLOGGED on Postgres like the other derived tables.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MONTHS = range(1, 7)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "median_sample",
        sa.Column("draw", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sex", sa.SmallInteger(), nullable=False),
        sa.Column("education", sa.SmallInteger(), nullable=False),
        sa.Column("marriage", sa.SmallInteger(), nullable=False),
        sa.Column("age", sa.SmallInteger(), nullable=False),
        sa.Column("limit_bal", sa.BigInteger(), nullable=False),
        sa.Column("defaulted", sa.Boolean(), nullable=False),
        *(sa.Column(f"bill_{m}", sa.Integer(), nullable=True) for m in MONTHS),
        *(sa.Column(f"paid_{m}", sa.Integer(), nullable=True) for m in MONTHS),
        prefixes=["UNLOGGED"] if postgres else [],
    )
    with op.batch_alter_table("overall_medians") as batch:
        batch.add_column(sa.Column("clients", sa.Integer(), nullable=True))
    # Summaries built before these tables existed must be rebuilt to fill them.
    op.execute("UPDATE summary_state SET version = 0 WHERE name = 'payments'")


def downgrade() -> None:
    with op.batch_alter_table("overall_medians") as batch:
        batch.drop_column("clients")
    op.drop_table("median_sample")
