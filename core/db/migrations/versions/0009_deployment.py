"""One id per deployment, made when its database is created.

RQ queues are named after it (core.jobs.rq.queue_name), so every worker and page of one
deployment agrees on the queue whatever host name it reaches the database by, and two
deployments sharing one Redis never take each other's jobs.

Revision ID: 0009
Revises: 0008
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "deployment",
        sa.Column("id", sa.String(32), primary_key=True),
    )
    op.bulk_insert(table, [{"id": uuid.uuid4().hex}])


def downgrade() -> None:
    op.drop_table("deployment")
