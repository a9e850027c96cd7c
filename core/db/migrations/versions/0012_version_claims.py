"""A version can be claimed by one active job only: a partial unique index.

`submit` checked that a version was free and then inserted its job, so two submissions of
one version at the same moment were both accepted and the loser trained to the end before
failing at save time. A unique index on training_jobs(version) over the queued and running
jobs makes the claim atomic: the second insert fails at once. A job that fails or is
cancelled leaves the index and frees its version; a saved version stays taken through
model_versions' primary key.

Jobs of one version that are already active together (from that race) cannot all be kept:
the earliest submitted keeps the version, the others are failed first.

The prediction log's timestamp index, which retention deletes by, exists since 0005.

Revision ID: 0012
Revises: 0011
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

ACTIVE = "state IN ('queued', 'running')"
DUPLICATE = "another job of the same version was submitted first; nothing was saved"

jobs = sa.table(
    "training_jobs",
    sa.column("id", sa.String),
    sa.column("state", sa.String),
    sa.column("stage", sa.String),
    sa.column("version", sa.String),
    sa.column("error", sa.Text),
    sa.column("current_model", sa.String),
    sa.column("submitted_at", sa.DateTime(timezone=True)),
    sa.column("finished_at", sa.DateTime(timezone=True)),
)
rows = sa.table("leaderboard_rows", sa.column("job_id", sa.String), sa.column("state", sa.String))


def upgrade() -> None:
    _fail_duplicates()
    op.create_index(
        "uq_training_jobs_active_version",
        "training_jobs",
        ["version"],
        unique=True,
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )


def _fail_duplicates() -> None:
    active = ("queued", "running")
    earlier = jobs.alias("earlier")
    first_is_other = sa.exists().where(
        earlier.c.version == jobs.c.version,
        earlier.c.state.in_(active),
        sa.or_(
            earlier.c.submitted_at < jobs.c.submitted_at,
            sa.and_(earlier.c.submitted_at == jobs.c.submitted_at, earlier.c.id < jobs.c.id),
        ),
    )
    op.execute(
        jobs.update()
        .where(jobs.c.state.in_(active), first_is_other)
        .values(
            state="failed",
            stage=None,
            current_model=None,
            error=DUPLICATE,
            finished_at=datetime.now(UTC),
        )
    )
    failed = sa.select(jobs.c.id).where(jobs.c.state == "failed", jobs.c.error == DUPLICATE)
    op.execute(
        rows.update()
        .where(rows.c.job_id.in_(failed), rows.c.state.in_(("pending", "running")))
        .values(state="skipped")
    )


def downgrade() -> None:
    op.drop_index("uq_training_jobs_active_version", table_name="training_jobs")
