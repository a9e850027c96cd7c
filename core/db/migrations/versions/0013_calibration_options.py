"""Calibration and fairness (issue 13): two training options on jobs, two probability
metrics on leaderboard rows.

`calibrate` is "isotonic", "sigmoid" or "none" (jobs queued before this were never
calibrated: "none"); `leave_out_protected` trains without SEX, AGE and MARRIAGE. Brier
score and log loss are cross-validated beside AUC (NULL for rows trained before this).

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:
        batch.add_column(
            sa.Column("calibrate", sa.String(10), nullable=False, server_default="none")
        )
        batch.add_column(
            sa.Column(
                "leave_out_protected", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    with op.batch_alter_table("leaderboard_rows") as batch:
        batch.add_column(sa.Column("brier", sa.Float(), nullable=True))
        batch.add_column(sa.Column("log_loss", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leaderboard_rows") as batch:
        batch.drop_column("log_loss")
        batch.drop_column("brier")
    with op.batch_alter_table("training_jobs") as batch:
        batch.drop_column("leave_out_protected")
        batch.drop_column("calibrate")
