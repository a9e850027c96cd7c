"""Indexes and the summaries of the explore pages (issue 3).

- clients (age, id) and (limit_bal, id): range filters, and the client table sorted by age
  or credit limit one page at a time without sorting every client.
- client_summary: clients counted per (sex, education, marriage, age, limit_bal, defaulted);
  about 1 row per 10 clients on a million synthetic clients, so the figures and charts
  aggregate far fewer rows.
- client_months: one row per client, the six months side by side (the exact medians).
- payment_summary: each month's bill and payment sums and clients per repayment-status
  group, per client_summary key (grain 3) and coarser (grains 0-2, without age and/or
  limit_bal).
- status_moves: clients per (from status, to status) and pair of months, at the same grains.

core.queries rebuilds them when the data version moves on, in two sets (client_summary;
the other three); summary_state records which version each set holds. On Postgres these
derived tables are UNLOGGED (no write-ahead log for the some 200 MB that a rebuild writes
for a million clients); after a crash Postgres empties them and summary_state together,
and the next query rebuilds them.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONTHS = range(1, 7)
STATUS_GROUPS = ("no_consumption", "paid_duly", "revolving", "late_1", "late_2", "late_3plus")


def _filter_columns(*, nullable_ranges: bool = False):
    return [
        sa.Column("sex", sa.SmallInteger(), nullable=False),
        sa.Column("education", sa.SmallInteger(), nullable=False),
        sa.Column("marriage", sa.SmallInteger(), nullable=False),
        sa.Column("age", sa.SmallInteger(), nullable=nullable_ranges),
        sa.Column("limit_bal", sa.BigInteger(), nullable=nullable_ranges),
        sa.Column("defaulted", sa.Boolean(), nullable=False),
    ]


def _derived() -> dict:
    """Table options of the derived tables: UNLOGGED on Postgres."""
    return {"prefixes": ["UNLOGGED"]} if op.get_bind().dialect.name == "postgresql" else {}


def upgrade() -> None:
    op.create_index("ix_clients_age_id", "clients", ["age", "id"])
    op.create_index("ix_clients_limit_bal_id", "clients", ["limit_bal", "id"])
    op.create_table(
        "client_summary",
        sa.Column("sex", sa.SmallInteger(), nullable=False),
        sa.Column("education", sa.SmallInteger(), nullable=False),
        sa.Column("marriage", sa.SmallInteger(), nullable=False),
        sa.Column("age", sa.SmallInteger(), nullable=False),
        sa.Column("limit_bal", sa.BigInteger(), nullable=False),
        sa.Column("defaulted", sa.Boolean(), nullable=False),
        sa.Column("clients", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("sex", "education", "marriage", "age", "limit_bal", "defaulted"),
        **_derived(),
    )
    op.create_table(
        "client_months",
        *_filter_columns(),
        *(sa.Column(f"status_{m}", sa.SmallInteger(), nullable=True) for m in MONTHS),
        *(sa.Column(f"bill_{m}", sa.Integer(), nullable=True) for m in MONTHS),
        *(sa.Column(f"paid_{m}", sa.Integer(), nullable=True) for m in MONTHS),
        **_derived(),
    )
    op.create_table(
        "payment_summary",
        sa.Column("grain", sa.SmallInteger(), nullable=False),
        *_filter_columns(nullable_ranges=True),
        sa.Column("clients", sa.Integer(), nullable=False),
        *(sa.Column(f"bill_{m}", sa.BigInteger(), nullable=True) for m in MONTHS),
        *(sa.Column(f"paid_{m}", sa.BigInteger(), nullable=True) for m in MONTHS),
        *(
            sa.Column(f"{group}_{m}", sa.Integer(), nullable=False)
            for m in MONTHS
            for group in STATUS_GROUPS
        ),
        **_derived(),
    )
    op.create_index("ix_payment_summary_grain", "payment_summary", ["grain", "age", "limit_bal"])
    op.create_table(
        "status_moves",
        sa.Column("grain", sa.SmallInteger(), nullable=False),
        *_filter_columns(nullable_ranges=True),
        sa.Column("from_status", sa.SmallInteger(), nullable=False),
        sa.Column("to_status", sa.SmallInteger(), nullable=False),
        *(sa.Column(f"into_{m}", sa.Integer(), nullable=False) for m in range(1, 6)),
        **_derived(),
    )
    op.create_index("ix_status_moves_grain", "status_moves", ["grain", "age", "limit_bal"])
    state = op.create_table(
        "summary_state",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        **_derived(),
    )
    op.bulk_insert(
        state, [{"name": "client_summary", "version": 0}, {"name": "payments", "version": 0}]
    )


def downgrade() -> None:
    op.drop_table("summary_state")
    op.drop_index("ix_status_moves_grain", table_name="status_moves")
    op.drop_table("status_moves")
    op.drop_index("ix_payment_summary_grain", table_name="payment_summary")
    op.drop_table("payment_summary")
    op.drop_table("client_months")
    op.drop_table("client_summary")
    op.drop_index("ix_clients_limit_bal_id", table_name="clients")
    op.drop_index("ix_clients_age_id", table_name="clients")
