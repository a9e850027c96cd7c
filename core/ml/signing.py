"""Signatures of model artifacts: HMAC-SHA256 under the deployment's MODEL_SIGNING_KEY.

A sha256 stored beside the pickled bytes catches accidents, but anyone who can write the
model table can store a malicious pickle with a matching sha256. A signature needs the key,
which never enters the database: it comes from the environment (MODEL_SIGNING_KEY) or, on
a laptop with none set, from a random key made once into MODEL_SIGNING_KEY_FILE (under
data/, mode 0600). The signed message is the version and the artifact, so a genuine model
copied under another version number is refused too.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import time
from pathlib import Path

from core.settings import (
    MIN_SIGNING_KEY_LENGTH,
    Settings,
    SettingsError,
    get_settings,
    short_key_message,
)

log = logging.getLogger(__name__)
# Another process may have created the key file and not yet written it: wait this long.
KEY_FILE_WAIT_SECONDS = 2.0


def signing_key(settings: Settings | None = None) -> bytes:
    """This deployment's key: MODEL_SIGNING_KEY, else the key file (made when missing).

    Raises SettingsError, naming MODEL_SIGNING_KEY, when the key file cannot be made or
    read, or holds a key shorter than 32 characters.
    """
    settings = settings or get_settings()
    if settings.model_signing_key is not None:
        return settings.model_signing_key.get_secret_value().encode()
    return key_from_file(settings.model_signing_key_file)


def key_from_file(path: Path) -> bytes:
    """The key kept in `path`; a random one is written there first when there is none.

    The file is created with O_CREAT | O_EXCL and mode 0600: of two processes starting at
    once, one writes the key and the other reads that same key.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    except OSError as exc:
        raise _file_error(path, exc) from None
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    log.warning("MODEL_SIGNING_KEY is not set: made a model signing key in %s", path)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    deadline = time.monotonic() + KEY_FILE_WAIT_SECONDS
    while True:
        try:
            key = path.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise _file_error(path, exc) from None
        if len(key) >= MIN_SIGNING_KEY_LENGTH:
            break
        if time.monotonic() > deadline:  # not a key being written: a short one
            message = short_key_message(f"the model signing key in {path}", key)
            raise SettingsError(f"{message}; or set MODEL_SIGNING_KEY")
        time.sleep(0.05)
    if path.stat().st_mode & 0o077:
        log.warning("the model signing key file %s is readable by others: chmod 600 it", path)
    return key.encode()


def _file_error(path: Path, exc: BaseException) -> SettingsError:
    reason = getattr(exc, "strerror", None) or str(exc)
    return SettingsError(
        f"MODEL_SIGNING_KEY is not set and the key file {path} cannot be used ({reason}); "
        "set MODEL_SIGNING_KEY"
    )


def sign(version: str, artifact: bytes, key: bytes) -> str:
    """The signature (hex) of `artifact` stored as model `version` (formatted, "1.0")."""
    mac = hmac.new(key, version.encode() + b"\0", hashlib.sha256)
    mac.update(artifact)  # any bytes-like, not copied
    return mac.hexdigest()


def is_signed(version: str, artifact: bytes, signature: str | None, key: bytes) -> bool:
    """Whether `signature` is the one `key` gives `artifact` as `version` (constant time)."""
    if not signature:
        return False
    expected = sign(version, artifact, key).encode()
    return hmac.compare_digest(expected, signature.encode(errors="replace"))
