"""Training jobs and their leaderboard rows (one row per job and model).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

METRICS = ("accuracy", "auc", "recall", "precision", "f1", "kappa", "mcc", "tt_sec")


def upgrade() -> None:
    op.create_table(
        "training_jobs",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("stage", sa.String(20), nullable=True),
        sa.Column("version", sa.String(20), nullable=False),
        sa.Column("folds", sa.Integer(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("metric", sa.String(20), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=True),
        sa.Column("fix_imbalance", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("models_done", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("models_total", sa.Integer(), nullable=False),
        sa.Column("current_model", sa.String(200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("runner", sa.String(10), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("best_model_id", sa.String(50), nullable=True),
        sa.Column("best_model_name", sa.String(200), nullable=True),
        sa.Column("best_score", sa.Float(), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'finished', 'failed', 'cancelled')",
            name="ck_training_jobs_state",
        ),
    )
    op.create_index("ix_training_jobs_state", "training_jobs", ["state"])
    op.create_index("ix_training_jobs_submitted_at", "training_jobs", ["submitted_at"])
    op.create_table(
        "leaderboard_rows",
        sa.Column(
            "job_id",
            sa.String(36),
            sa.ForeignKey("training_jobs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model_id", sa.String(50), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *[sa.Column(name, sa.Float(), nullable=True) for name in METRICS],
        sa.Column("sd", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("leaderboard_rows")
    op.drop_index("ix_training_jobs_submitted_at", table_name="training_jobs")
    op.drop_index("ix_training_jobs_state", table_name="training_jobs")
    op.drop_table("training_jobs")
