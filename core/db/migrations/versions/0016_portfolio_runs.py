"""Portfolio runs (issue 14): every client scored by one model version as a background job.

`portfolio_runs` holds a run's request, progress and, once finished, its summary;
`portfolio_scores` one row per client scored (deleted with a run that failed).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "portfolio_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("version", sa.String(20), nullable=False),
        sa.Column("champion", sa.Boolean(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("lgd", sa.Float(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("parts_done", sa.Integer(), nullable=False),
        sa.Column("clients_total", sa.BigInteger(), nullable=False),
        sa.Column("clients_done", sa.BigInteger(), nullable=False),
        sa.Column("runner", sa.String(10), nullable=False),
        sa.Column("submitted_by", sa.String(100), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'finished', 'failed')",
            name="ck_portfolio_runs_state",
        ),
    )
    op.create_index("ix_portfolio_runs_state", "portfolio_runs", ["state"])
    op.create_table(
        "portfolio_scores",
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("portfolio_runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("client_id", sa.BigInteger(), primary_key=True),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("label", sa.SmallInteger(), nullable=False),
        sa.Column("expected_loss", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("portfolio_scores")
    op.drop_table("portfolio_runs")
