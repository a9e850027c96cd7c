"""A malicious model artifact, and a way to write it into the registry as an attacker with
write access to the model table would: with a matching sha256, but without the key."""

from __future__ import annotations

import hashlib
import pathlib
import pickle

from sqlalchemy import update

from core.db.schema import ModelVersion

KEEP = object()


class Touch:
    """Unpickled, it creates `marker`: the proof that stored bytes ran code."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def evil_artifact(marker: pathlib.Path) -> bytes:
    """A pickle whose loading creates `marker`."""
    return pickle.dumps(Touch(marker), protocol=pickle.HIGHEST_PROTOCOL)


def tamper(engine, version: str, artifact: bytes, signature=KEEP) -> None:
    """Store `artifact` as `version` with its true sha256; the signature is left as it was
    (a forger has no key) unless one is given."""
    values = {"artifact": artifact, "sha256": hashlib.sha256(artifact).hexdigest()}
    if signature is not KEEP:
        values["signature"] = signature
    with engine.begin() as connection:
        connection.execute(
            update(ModelVersion).where(ModelVersion.version == version).values(**values)
        )
