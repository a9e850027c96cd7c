"""The dashboard's Streamlit configuration: no traceback or Deploy button in a browser, and
an upload limit equal to the scoring-file setting, wherever the dashboard is started."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from core.settings import Settings
from tests.e2e.conftest import SERVER_CWD, server_options

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".streamlit" / "config.toml"
WANTED = {
    ("client", "showErrorDetails"): "none",
    ("client", "toolbarMode"): "minimal",
    ("browser", "gatherUsageStats"): False,
    ("runner", "postScriptGC"): False,
    ("server", "maxUploadSize"): Settings.model_fields["scoring_upload_mb"].default,
}


def shown_options(cwd: Path, *options: str) -> dict[str, str]:
    """The values the installed Streamlit runs with, from `streamlit config show` (it takes
    the same options as `streamlit run`) started in `cwd`."""
    done = subprocess.run(
        [sys.executable, "-m", "streamlit", "config", "show", *options],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    values, section = {}, None
    for line in done.stdout.splitlines():
        if found := re.fullmatch(r"\[(\w+)\]", line.strip()):
            section = found.group(1)
        elif found := re.fullmatch(r"(\w+) = (.+)", line):
            values[f"{section}.{found.group(1)}"] = found.group(2)
    return values


def test_the_config_file_sets_what_the_product_needs():
    config = tomllib.loads(CONFIG.read_text())
    for (section, name), value in WANTED.items():
        assert config[section][name] == value, f"{section}.{name}"


def test_the_browser_tests_dashboard_runs_with_it():
    values = shown_options(SERVER_CWD, *server_options(8599))
    assert values["client.showErrorDetails"] == '"none"'
    assert values["client.toolbarMode"] == '"minimal"'
    assert values["browser.gatherUsageStats"] == "false"
    assert values["server.maxUploadSize"] == "200"
    assert values["server.port"] == "8599"  # the options were read too


def test_elsewhere_streamlit_would_show_tracebacks(tmp_path):
    """Why the dashboard must start in the project root: the file is read from the cwd."""
    assert shown_options(tmp_path).get("client.showErrorDetails") is None


def test_make_run_and_the_image_start_the_dashboard_in_the_project_root():
    makefile = (ROOT / "Makefile").read_text()
    run = makefile[makefile.index("\nrun:") : makefile.index("\ntest:")]
    assert "streamlit run dashboard/app.py" in run and "cd " not in run
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "WORKDIR /app" in dockerfile and "COPY . ." in dockerfile
    assert '"dashboard/app.py"' in dockerfile
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    assert not any(pattern.startswith(".streamlit") or pattern == ".*" for pattern in ignored)
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    dashboard = compose["services"]["dashboard"]
    assert "working_dir" not in dashboard and "dashboard/app.py" in dashboard["command"]


def test_compose_gives_streamlit_the_same_upload_limit():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = compose["x-app"]["environment"]
    assert environment["SCORING_UPLOAD_MB"] == "${SCORING_UPLOAD_MB:-}"
    assert environment["STREAMLIT_SERVER_MAX_UPLOAD_SIZE"] == "${SCORING_UPLOAD_MB:-200}"
