"""`python -m core ...` run as a user runs it, in a subprocess from the project root."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

# Settings a test passes explicitly when it wants them, never inherited from the shell.
UNSET = ("DATABASE_URL", "REDIS_URL", "PREDICTION_RETENTION_DAYS")


def run_cli(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess:
    """The finished `python -m core *args`, with `env` added to this environment (less
    UNSET) and `stdin` as its input; stdout and stderr captured as text."""
    environment = {k: v for k, v in os.environ.items() if k not in UNSET}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "core", *args],
        cwd=ROOT,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )
