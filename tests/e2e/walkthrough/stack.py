"""The whole product on free ports for the walkthrough: Postgres, Redis, one RQ worker, the
dashboard and the API, each a real process started as the README says.

Postgres is a private cluster (`initdb` into a temporary folder, as the `postgres` user when
run as root) when that works; otherwise a fresh database named with the pid on the
machine's Postgres (TEST_DATABASE_URL's server, else 127.0.0.1:5432), dropped at the end.
Redis is a private `redis-server` when one is installed, else the flushed TEST_REDIS_URL.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

from tests.e2e.conftest import ROOT, START_TIMEOUT_S, free_port
from tests.waiting import wait_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stack:
    """Where the running stack answers, and how it was made."""

    database_url: str
    redis_url: str
    dashboard_url: str
    api_url: str
    api_key: str
    admin: str
    password: str
    postgres_kind: str  # "private cluster" or "fresh database on <server>"
    redis_kind: str


class Process:
    """A child process with its output in a log file, stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path):
        self.name = name
        self.log_path = logs / f"{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def tail(self, size: int = 3000) -> str:
        self.log.flush()
        return self.log_path.read_bytes()[-size:].decode(errors="replace")

    def alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with {code}; its log ends:\n{self.tail()}")

    def wait_until(self, condition, what: str) -> None:
        def ready():
            self.alive()
            return condition()

        wait_for(ready, START_TIMEOUT_S, lambda: f"{self.name}: {what}; log:\n{self.tail()}", 0.3)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status == 200
    except OSError:
        return False


def run(argv: list[str], env: dict[str, str], cwd: Path = ROOT) -> str:
    """Run a command to the end; its output, or an error with the output."""
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --- Postgres --------------------------------------------------------------------------------


def postgres_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return versions[-1] if versions else None


@contextlib.contextmanager
def private_postgres(logs: Path) -> Iterator[str]:
    """A new cluster on a free port, trust auth on 127.0.0.1; its URL. Raises OSError or
    RuntimeError when it cannot be made (no initdb, no `postgres` user as root)."""
    initdb, pg_ctl = postgres_binary("initdb"), postgres_binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("initdb or pg_ctl is not installed")
    folder = Path(tempfile.mkdtemp(prefix="credit-e2e-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # Postgres refuses to run as root
        shutil.chown(folder, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port, env = folder / "data", free_port(), dict(os.environ)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    try:
        run([*as_user, initdb, "-D", str(data), "-U", "postgres", "--auth=trust"], env, folder)
        start = ["-o", options, "-l", str(folder / "log"), "-w", "start"]
        run([*as_user, pg_ctl, "-D", str(data), *start], env, folder)
    except (OSError, RuntimeError):
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(OSError, RuntimeError, subprocess.TimeoutExpired):
            run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], env, folder)
        with contextlib.suppress(OSError):
            shutil.copy(folder / "log", logs / "postgres.log")
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A database named with the pid on the machine's Postgres, dropped afterwards."""
    server = os.environ.get("TEST_DATABASE_URL") or "postgresql://root@127.0.0.1:5432/postgres"
    parts = urlsplit(server)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    name = f"credit_e2e_{os.getpid()}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextlib.contextmanager
def postgres(logs: Path) -> Iterator[tuple[str, str]]:
    """(URL, which kind): a private cluster if possible, else a fresh database."""
    try:
        cluster = private_postgres(logs)
        url = cluster.__enter__()
    except (OSError, RuntimeError) as exc:
        log.warning("no private Postgres cluster (%s); using a fresh database", exc)
    else:
        try:
            yield url, "private cluster"
        finally:
            cluster.__exit__(None, None, None)
        return
    with fresh_database() as url:
        yield url, f"fresh database on {urlsplit(url).hostname}:{urlsplit(url).port}"


# --- Redis -----------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_service(logs: Path) -> Iterator[tuple[str, str]]:
    """(URL, which kind): a private redis-server without persistence, else TEST_REDIS_URL."""
    server = shutil.which("redis-server")
    if server is None:
        url = os.environ.get("TEST_REDIS_URL")
        if not url:
            raise RuntimeError("neither redis-server nor TEST_REDIS_URL is available")
        client = redis.Redis.from_url(url)
        client.flushdb()
        try:
            yield url, "TEST_REDIS_URL, flushed"
        finally:
            client.flushdb()
            client.close()
        return
    port = free_port()
    argv = [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = Process("redis", argv, dict(os.environ), logs)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)

    def pong() -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    try:
        process.wait_until(pong, "does not answer PING")
        yield url, "private redis-server"
    finally:
        client.close()
        process.stop()


# --- the product -----------------------------------------------------------------------------


def python(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def prepare(env: dict[str, str], data: Path, admin: str, password: str) -> str:
    """Load the data, make the first admin and an API key for them, as an operator would
    from the command line; the key."""
    run(python("core", "load", "--csv", str(data)), env)
    first = {**env, "ADMIN_USER": admin, "ADMIN_PASSWORD": password}
    run(python("core", "users", "init-admin"), first)
    return run(python("core", "users", "key", admin), env).strip().splitlines()[-1]


@contextlib.contextmanager
def services(env: dict[str, str], logs: Path) -> Iterator[tuple[str, str]]:
    """An RQ worker, the API and the dashboard; (dashboard URL, API URL)."""
    started: list[Process] = []
    try:
        worker = Process("worker", python("core", "worker"), env, logs)
        started.append(worker)
        api_port, dashboard_port = free_port(), free_port()
        api_argv = python("api", "--host", "127.0.0.1", "--port", str(api_port))
        api = Process("api", api_argv, env, logs)
        started.append(api)
        dashboard_argv = python(
            "streamlit", "run", "dashboard/app.py", "--server.port", str(dashboard_port),
            "--server.address", "127.0.0.1", "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        )  # fmt: skip
        dashboard = Process("dashboard", dashboard_argv, env, logs)
        started.append(dashboard)
        worker.wait_until(lambda: "RQ worker on queue" in worker.tail(), "no queue announced")
        api_url, dashboard_url = (
            f"http://127.0.0.1:{api_port}",
            f"http://127.0.0.1:{dashboard_port}",
        )
        api.wait_until(lambda: answers(f"{api_url}/health"), "/health does not answer")
        dashboard.wait_until(lambda: answers(f"{dashboard_url}/_stcore/health"), "not healthy")
        yield dashboard_url, api_url
    finally:
        for process in reversed(started):
            process.stop()
