"""API benchmark: POST /predict/realtime/ under load, against the old app's way, in one run.

    python bench/api.py [--database-url URL] [--models gbc,lr] [--workers 2] [--seconds 15]
                        [--access-control] [--quick]

For each model (default gradient boosting, then logistic regression) it trains the model on
5,000 real rows (core.ml.experiment), registers it as the champion in the database
BENCH_API_DATABASE_URL (default postgresql://root@127.0.0.1:5432/credit_api_bench, dropped
and recreated), then on loopback:

- serves the API (`python -m api --workers N`) and loads POST /predict/realtime/ with wrk
  (16 connections, keep-alive, a Lua script rotating 200 real clients as bodies), reports
  requests/s and p50/p99, stops the server and checks that every request was logged;
- serves the old app's way (bench/old_app.py: unpickle from the database + predict_model per
  request) with the same server, workers and load, and reports the ratio;
- measures core.serving.scoring.score for one client against the bare estimator's
  predict_proba on the same numpy row (p50, in this process);
- posts 100,000 clients to POST /predict/batch/ (CSV and JSON) and times the answer.

With --access-control it also loads the route with access control on (an analyst's API key
in `Authorization: Bearer`), alternating twice with the open route, and prints the ratio;
--quick leaves out the old app's way, score() and the batch.

wrk comes from Debian's packages (`apt-get install -y wrk`); it shares the machine's cores
with the server. The load on the machine is printed before each part.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
from benchmodel import p50_ms, save, train
from sqlalchemy import func, select

from benchdb import fresh_database
from benchfigures import Figures, add_json_option
from core.auth import (
    SYSTEM,
    access_control_on,
    add_user,
    key_actor,
    new_key,
    remove_user,
    require,
)
from core.data.dataset import parse_csv
from core.db.schema import Prediction
from core.ml.registry import set_champion
from core.serving.log_buffer import prediction_log
from core.serving.scoring import get_model, score
from core.vocabulary import FEATURES, ID

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://root@127.0.0.1:5432/credit_api_bench"
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "credit.csv"
CONNECTIONS = 16
BATCH_ROWS = 100_000
LUA = """
bodies = {%s}
counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%s
request = function()
  counter = counter %% #bodies + 1
  return wrk.format(nil, nil, nil, bodies[counter])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {"requests": %%d, "seconds": %%.3f, "p50_ms": %%.3f, "p99_ms": %%.3f, ' ..
    '"max_ms": %%.3f, "non_2xx": %%d, "errors": %%d, "timeouts": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3, e.status,
    e.connect + e.read + e.write, e.timeout))
end
"""


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def server_stack() -> str:
    """What uvicorn serves with: httptools and uvloop when installed, else h11 and asyncio."""
    found = []
    for name in ("httptools", "uvloop"):
        try:
            __import__(name)
            found.append(name)
        except ImportError:
            continue
    return "uvicorn with " + (
        " + ".join(found) if found else "h11 + asyncio (no httptools, uvloop)"
    )


def register(engine, version: str, model_id: str, pipeline) -> dict:
    save(engine, version, model_id, pipeline)
    set_champion(engine, version, reason="benchmark: each model in turn")
    return get_model(engine, version).serving.as_dict()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """A uvicorn server in its own process group, stopped with SIGTERM (a clean shutdown)."""

    def __init__(self, command: list[str], url: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        environment = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": path}
        environment.pop("REDIS_URL", None)
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_ready(self, path: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + path, timeout=5).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the server on {self.base} did not answer {path}")

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


def api_command(workers: int) -> list[str]:
    return [sys.executable, "-m", "api", "--workers", str(workers), "--no-access-log"]


def wrk(url: str, script: Path, seconds: int, timeout: int = 10) -> dict:
    command = [
        "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", f"--timeout={timeout}s",
        "-s", str(script), url,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def logged(engine, source: str = "api") -> int:
    with engine.connect() as connection:
        return connection.scalar(
            select(func.count()).select_from(Prediction).where(Prediction.source == source)
        )


def group_cpu_seconds(group: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of process group
    `group` (the server and its workers): what a request costs, whatever else loads the
    machine."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # pgrp; utime and stime follow at 11 and 12
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def realtime(engine, url: str, script: Path, workers: int, seconds: int) -> dict:
    """Our API under wrk; every completed request must have its row in the log."""
    before = logged(engine)
    server = Server(api_command(workers), url)
    try:
        server.wait_ready("/health")
        warm = wrk(server.base + "/predict/realtime/", script, 3)  # each worker loads the model
        cpu = group_cpu_seconds(server.process.pid)
        result = wrk(server.base + "/predict/realtime/", script, seconds)
        cpu = group_cpu_seconds(server.process.pid) - cpu
    finally:
        server.stop()  # SIGTERM: the lifespan flushes the log buffer
    result["cpu_ms"] = cpu * 1e3 / max(result["requests"], 1)
    result["completed"] = warm["requests"] + result["requests"]
    result["logged"] = logged(engine) - before
    return result


def old_way(url: str, script: Path, workers: int, seconds: int) -> dict:
    command = [
        sys.executable, "-m", "uvicorn", "old_app:app", "--app-dir", str(ROOT / "bench"),
        "--host", "127.0.0.1", "--workers", str(workers), "--no-access-log",
    ]  # fmt: skip
    server = Server(command, url)
    try:
        server.wait_ready("/docs")
        wrk(server.base + "/predict/realtime/", script, 3, timeout=30)
        return wrk(server.base + "/predict/realtime/", script, seconds, timeout=30)
    finally:
        server.stop()


def single_client(engine, clients: list[dict], requests: int = 3_000) -> dict:
    """p50 of score() (default version, validation included, nothing logged) and of the bare
    estimator's predict_proba on the same numpy row, measured alternately."""
    model = get_model(engine)
    estimator = model.pipeline.steps[-1][1]
    rows = [np.array([[c[name] for name in FEATURES]], dtype=float) for c in clients]
    ours, bare, logged_ = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "X does not have valid feature names", per call
        for i in range(requests):
            client, row = clients[i % len(clients)], rows[i % len(rows)]
            started = time.perf_counter()
            estimator.predict_proba(row)
            middle = time.perf_counter()
            score(engine, client)
            ended = time.perf_counter()
            score(engine, client, source="api", buffered=True)
            logged_.append(time.perf_counter() - ended)
            bare.append(middle - started)
            ours.append(ended - middle)
    prediction_log().flush()  # so these rows are not counted with the next part's
    return {
        "bare_p50_ms": p50_ms(bare),
        "score_p50_ms": p50_ms(ours),
        "score_logged_p50_ms": p50_ms(logged_),
        "ratio": statistics.median(ours) / statistics.median(bare),
    }


def batch(engine, url: str, frame: pd.DataFrame, workers: int) -> dict:
    repeats = -(-BATCH_ROWS // len(frame))
    big = pd.concat([frame[FEATURES]] * repeats, ignore_index=True).iloc[:BATCH_ROWS]
    big.insert(0, ID, np.arange(1, len(big) + 1))
    csv = big.to_csv(index=False).encode()
    body = json.dumps(big.to_dict("records")).encode()
    before = logged(engine)
    server = Server(api_command(workers), url)
    timings = {}
    try:
        server.wait_ready("/health")
        with httpx.Client(base_url=server.base, timeout=120) as client:
            client.post("/predict/batch/", content=csv[:20_000].rsplit(b"\n", 1)[0],
                        headers={"Content-Type": "text/csv"})  # fmt: skip
            for kind, content, media in (("csv", csv, "text/csv"),
                                         ("json", body, "application/json")):  # fmt: skip
                started = time.perf_counter()
                answer = client.post("/predict/batch/", content=content,
                                     headers={"Content-Type": media})  # fmt: skip
                timings[f"{kind}_seconds"] = time.perf_counter() - started
                assert answer.status_code == 200 and answer.json()["count"] == BATCH_ROWS
    finally:
        server.stop()
    timings["logged"] = logged(engine) - before
    timings["csv_mb"] = len(csv) / 1e6
    timings["json_mb"] = len(body) / 1e6
    return timings


def lua_script(clients: list[dict], folder: Path, key: str | None = None) -> Path:
    bodies = ", ".join(json.dumps(json.dumps(c)) for c in clients)
    header = f'wrk.headers["Authorization"] = "Bearer {key}"' if key else ""
    path = folder / ("keyed.lua" if key else "post.lua")
    path.write_text(LUA % (bodies, header))
    return path


def access_control(engine, url: str, clients: list[dict], folder: Path, workers: int,
                   seconds: int) -> None:  # fmt: skip
    """The realtime route open (no user) and with access control on (a key per request),
    alternated twice; the user is removed after."""
    name = "bench-analyst"
    runs = {"open": [], "keyed": []}
    open_script = lua_script(clients, folder)
    for _ in range(2):
        runs["open"].append(realtime(engine, url, open_script, workers, seconds))
        add_user(engine, name, secrets.token_urlsafe(16), "analyst", actor=SYSTEM)
        key = new_key(engine, name, actor=SYSTEM)
        runs["keyed"].append(realtime(engine, url, lua_script(clients, folder, key), workers,
                                      seconds))  # fmt: skip
        remove_user(engine, name, actor=SYSTEM)
    for kind, results in runs.items():
        for result in results:
            print(
                f"  {kind:>5}: {result['rps']:8.1f} req/s  p50 {result['p50_ms']:6.2f} ms  "
                f"p99 {result['p99_ms']:6.2f} ms  server CPU {result['cpu_ms']:.3f} ms/request  "
                f"non-2xx {result['non_2xx']}  errors {result['errors']}"
            )
    rps = {kind: statistics.mean(r["rps"] for r in results) for kind, results in runs.items()}
    cpu = {kind: statistics.mean(r["cpu_ms"] for r in results) for kind, results in runs.items()}
    print(
        f"  keyed / open (means of two runs each): req/s {rps['keyed'] / rps['open']:.3f}, "
        f"server CPU per request {cpu['keyed'] / cpu['open']:.3f}"
    )
    print(f"  the key check itself, in process: {check_cost(engine, name):.1f} us (p50)")


def check_cost(engine, name: str, calls: int = 20_000) -> float:
    """p50 microseconds of what the API's caller dependency does per request with access
    control on (core.auth's cached lookups and the role check)."""
    add_user(engine, name, secrets.token_urlsafe(16), "analyst", actor=SYSTEM)
    key = new_key(engine, name, actor=SYSTEM)
    timings = []
    for _ in range(calls):
        started = time.perf_counter()
        if access_control_on(engine):
            require(key_actor(engine, key), "score")
        timings.append(time.perf_counter() - started)
    remove_user(engine, name, actor=SYSTEM)
    return statistics.median(timings) * 1e6


def main() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("bench/api.py drives the API with wrk: apt-get install wrk")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_API_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--csv", default=os.environ.get("CREDIT_DATA", str(DEFAULT_CSV)))
    parser.add_argument("--models", default="gbc,lr", help="PyCaret model ids, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="API worker processes")
    parser.add_argument("--seconds", type=int, default=15, help="seconds of load per run")
    parser.add_argument(
        "--access-control",
        action="store_true",
        help="also load the realtime route with access control on and a key per request",
    )
    parser.add_argument(
        "--quick", action="store_true", help="leave out the old way, score() and the batch"
    )
    add_json_option(parser)
    args = parser.parse_args()

    frame = parse_csv(Path(args.csv).read_bytes())
    features = frame.drop(columns=[ID])
    clients = [
        {name: int(v) for name, v in zip(FEATURES, row, strict=True)}
        for row in frame[FEATURES].iloc[:200].itertuples(index=False)
    ]
    engine = fresh_database(args.database_url)
    url = engine.url.render_as_string(hide_password=False)
    print(f"{args.workers} API workers, {CONNECTIONS} connections, {load()}; {server_stack()}")
    figures = Figures("api")
    with tempfile.TemporaryDirectory() as folder:
        script = lua_script(clients, Path(folder))
        for number, model_id in enumerate(args.models.split(",")):
            version = f"{number + 1}.0"
            serving = register(engine, version, model_id, train(frame, model_id))
            print(f"\nmodel {model_id} (version {version}, champion): served {serving}")
            print(f"  [{load()}]")
            ours = realtime(engine, url, script, args.workers, args.seconds)
            print(
                f"  ours: {ours['rps']:8.1f} req/s  p50 {ours['p50_ms']:6.2f} ms  "
                f"p99 {ours['p99_ms']:6.2f} ms  max {ours['max_ms']:7.2f} ms  "
                f"server CPU {ours['cpu_ms']:.3f} ms/request  "
                f"non-2xx {ours['non_2xx']}  errors {ours['errors']}  timeouts "
                f"{ours['timeouts']}  (targets >= 500 req/s, p99 <= 60 ms)"
            )
            print(
                f"  log: {ours['logged']} rows for {ours['completed']} completed requests "
                f"(every request logged: {ours['logged'] >= ours['completed']})"
            )
            if args.access_control:
                print(f"  access control off and on [{load()}]")
                access_control(engine, url, clients, Path(folder), args.workers, args.seconds)
            name = f"POST /predict/realtime/, {model_id}, {args.workers} workers"
            figures.add(f"{name}: p99", ours["p99_ms"], "ms", "<= 60")
            if args.quick:
                figures.add(f"{name}: rate", ours["rps"], "req/s", ">= 500", lower_is_better=False)
                continue
            print(f"  [{load()}]")
            old = old_way(url, script, args.workers, args.seconds)
            print(
                f"  old way: {old['rps']:8.1f} req/s  p50 {old['p50_ms']:8.1f} ms  "
                f"p99 {old['p99_ms']:8.1f} ms  timeouts {old['timeouts']}  "
                f"non-2xx {old['non_2xx']}"
            )
            print(f"  ratio ours / old: {ours['rps'] / old['rps']:6.1f}x (target >= 50x)")
            figures.add(f"{name}: rate", ours["rps"], "req/s", ">= 500", "ratio >= 50",
                        baseline=old["rps"], baseline_what="the old app's way",
                        lower_is_better=False)  # fmt: skip
            one = single_client(engine, clients)
            print(
                f"  score() p50 {one['score_p50_ms']:.3f} ms vs bare predict_proba p50 "
                f"{one['bare_p50_ms']:.3f} ms: {one['ratio']:.2f}x (target <= 3x); with "
                f"the buffered log row {one['score_logged_p50_ms']:.3f} ms"
            )
            print(f"  [{load()}]")
            big = batch(engine, url, features, args.workers)
            print(
                f"  {BATCH_ROWS:,} clients via POST /predict/batch/: CSV "
                f"({big['csv_mb']:.1f} MB) {big['csv_seconds']:.2f} s, JSON "
                f"({big['json_mb']:.1f} MB) {big['json_seconds']:.2f} s (target < 5 s); "
                f"logged {big['logged']:,} rows"
            )
            figures.add(f"{BATCH_ROWS:,} clients via POST /predict/batch/ (CSV), {model_id}",
                        big["csv_seconds"], "s", "< 5")  # fmt: skip
    figures.write(args.json)
    engine.dispose()


if __name__ == "__main__":
    main()
