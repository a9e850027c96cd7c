"""Run the benchmarks and write their figures into docs/PERFORMANCE.md.

    python bench/report.py                          # every script, as `make bench` does
    python bench/report.py --only ingest,reasons    # some of them
    python bench/report.py --from results/*.json    # figures a run wrote, without running
    python bench/report.py --keep results           # every script, keeping their JSON

Each script runs with `--json PATH` (its own output still shows); the table of every figure
(what, target, measured, the baseline measured in the same run, ratio, met?), the machine
and the date replace what is between `<!-- bench:start -->` and `<!-- bench:end -->` in the
document, so the prose around it stays. Without the markers the section goes at the top.
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from benchfigures import Figure, read

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOCUMENT = ROOT / "docs" / "PERFORMANCE.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
SCRIPTS = (
    "ingest",
    "queries",
    "pages",
    "scoring",
    "scoring_file",
    "training",
    "calibration",
    "portfolio",
    "api",
    "reasons",
)
DEFAULT_POSTGRES = "postgresql://root@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


# --- running the scripts ----------------------------------------------------------------------


def run_script(name: str, folder: Path) -> tuple[list[Figure], str]:
    """Run bench/NAME.py with --json; its figures, and why there are none if it failed."""
    path = folder / f"{name}.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    print(f"\n=== bench/{name}.py", flush=True)
    done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), "--json", str(path)], env=env)
    if done.returncode != 0:
        return [], f"bench/{name}.py exited with {done.returncode}"
    if not path.exists():
        return [], f"bench/{name}.py wrote no figures"
    return read(path), ""


# --- the machine ------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def postgres_version(url: str) -> str:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=5) as connection:
            return str(connection.execute("SHOW server_version").fetchone()[0])
    except Exception as exc:  # noqa: BLE001 - the report names what it could not read
        return f"unknown ({type(exc).__name__})"


def redis_version(url: str) -> str:
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            return str(client.info("server")["redis_version"])
        finally:
            client.close()
    except Exception as exc:  # noqa: BLE001 - the report names what it could not read
        return f"unknown ({type(exc).__name__})"


def machine() -> dict[str, str]:
    postgres = os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES)
    return {
        "cores": str(os.cpu_count()),
        "CPU": cpu_model(),
        "RAM": memory_gib(),
        "Python": platform.python_version(),
        "Postgres": postgres_version(postgres.replace("postgresql+psycopg://", "postgresql://")),
        "Redis": redis_version(os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS)),
        "load": f"{os.getloadavg()[0]:.1f}",
    }


# --- writing ----------------------------------------------------------------------------------


def number(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:,.1f}"
    elif abs(value) >= 1 or value == 0:
        text = f"{value:,.2f}"
    else:  # two significant digits: 0.048, not 0.05 beside a target of 0.05
        text = f"{value:.{max(2, 1 - math.floor(math.log10(abs(value))))}f}"
    return f"{text} {unit}".rstrip()


def verdict(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: ""}[met]


def table(figures: list[Figure]) -> list[str]:
    lines = [
        "| bench | what | target | measured | baseline (same run) | ratio | met? |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for figure in figures:
        baseline = number(figure.baseline, figure.unit)
        if baseline and figure.baseline_what:
            baseline = f"{baseline}: {figure.baseline_what}"
        ratio = "" if figure.ratio is None else f"{number(figure.ratio)}x"
        targets = "; ".join(target.text(figure.unit) for target in figure.targets)
        cells = [
            figure.bench,
            figure.what,
            targets,
            number(figure.measured, figure.unit),
            baseline,
            ratio,
            verdict(figure.met),
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return lines


def section(
    figures: list[Figure], about: dict[str, str], when: datetime.datetime, missing: list[str]
) -> str:
    """The generated part of the document, markers included."""
    met = [figure.met for figure in figures]
    lines = [
        START,
        "## Latest run (generated by `make bench`; edit the prose outside these markers)",
        "",
        f"Run on {when:%Y-%m-%d %H:%M} UTC: {about['cores']} cores ({about['CPU']}), "
        f"{about['RAM']} RAM, Python {about['Python']}, Postgres {about['Postgres']}, "
        f"Redis {about['Redis']}; load average {about.get('load', 'unknown')} at the end. "
        f"Scripts: {', '.join(dict.fromkeys(figure.bench for figure in figures)) or 'none'}. "
        "Ratios are the baseline over ours for times (ours over the "
        "baseline for rates), so above 1 means ours does better. "
        f"Targets met: {met.count(True)} of {len(met) - met.count(None)}.",
        "",
        *table(figures),
    ]
    if missing:
        lines += ["", "Not measured in this run:", "", *(f"- {reason}" for reason in missing)]
    lines.append(END)
    return "\n".join(lines)


def replace_section(document: str, generated: str) -> str:
    """`document` with its marked section replaced, or the section after its title."""
    if START in document and END in document:
        before, rest = document.split(START, 1)
        after = rest.split(END, 1)[1]
        return before + generated + after
    title, _, rest = document.partition("\n")
    if title.startswith("# "):
        return f"{title}\n\n{generated}\n\n{rest.lstrip()}"
    return f"{generated}\n\n{document}"


def write_document(
    out: Path,
    figures: list[Figure],
    missing: list[str],
    about: dict[str, str],
    when: datetime.datetime,
) -> None:
    """Write the section into `out` (made with a title when it does not exist)."""
    document = out.read_text() if out.exists() else "# Performance\n"
    out.write_text(replace_section(document, section(figures, about, when, missing)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated scripts (default: all)")
    parser.add_argument("--from", dest="results", nargs="*", help="JSON files instead of runs")
    parser.add_argument("--out", default=str(DOCUMENT), help="the document to write")
    parser.add_argument("--keep", help="a folder to keep each script's JSON in (for --from)")
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name] or list(SCRIPTS)
    unknown = sorted(set(names) - set(SCRIPTS))
    if unknown:
        parser.error(f"unknown scripts: {', '.join(unknown)}")
    figures: list[Figure] = []
    missing: list[str] = []
    if args.results:
        for path in args.results:
            figures += read(path)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-") as folder:
            kept = Path(args.keep or folder)
            kept.mkdir(parents=True, exist_ok=True)
            for name in names:
                found, why = run_script(name, kept)
                figures += found
                if why:
                    missing.append(why)
    out = Path(args.out)
    write_document(out, figures, missing, machine(), datetime.datetime.now(datetime.UTC))
    print(
        f"\n{len(figures)} figures written to {out}"
        + (f"; {len(missing)} missing" if missing else "")
    )
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
