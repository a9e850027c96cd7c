"""Policy thresholds (issue 14): the cut-off each version scores at by default, chosen from
what a default costs and what a good client earns, with those costs and who saved it.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_thresholds",
        sa.Column(
            "version",
            sa.String(20),
            sa.ForeignKey("model_versions.version", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("lgd", sa.Float(), nullable=False),
        sa.Column("exposure", sa.String(10), nullable=False),
        sa.Column("margin", sa.Float(), nullable=False),
        sa.Column("set_by", sa.String(100), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("policy_thresholds")
