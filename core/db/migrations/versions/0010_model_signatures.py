"""Signed model artifacts: a `signature` column, and the versions saved before it signed.

The sha256 beside each artifact catches accidents, not tampering. From here on every
artifact carries an HMAC-SHA256 under the deployment's MODEL_SIGNING_KEY (core.ml.signing)
and is checked before unpickling. Versions saved before this revision are signed now when
their sha256 still matches their bytes, under the key the runtime reads (the environment,
else the key file); the others stay unsigned, so loading refuses them. Nothing is unpickled.
The key is read only when there is a version to sign.

Revision ID: 0010
Revises: 0009
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

versions = sa.table(
    "model_versions",
    sa.column("version", sa.String),
    sa.column("artifact", sa.LargeBinary),
    sa.column("sha256", sa.String),
    sa.column("signature", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.add_column(sa.Column("signature", sa.String(64), nullable=True))
    sign_matching_versions(op.get_bind())


def sign_matching_versions(connection) -> None:
    """Sign each version whose artifact still matches its sha256, one artifact at a time."""
    from core.ml.signing import sign, signing_key

    stored = connection.execute(sa.select(versions.c.version, versions.c.sha256)).all()
    if not stored:
        return
    key = signing_key()
    for version, digest in stored:
        artifact = connection.scalar(
            sa.select(versions.c.artifact).where(versions.c.version == version)
        )
        if artifact is None or hashlib.sha256(artifact).hexdigest() != digest:
            continue
        connection.execute(
            versions.update()
            .where(versions.c.version == version)
            .values(signature=sign(version, artifact, key))
        )


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("signature")
