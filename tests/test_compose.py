"""The compose stack and its image, checked by reading the files (no Docker engine runs here).

Each check is a function that returns the problems it finds, named by service and key; the
real files must have none, and a table of broken copies shows that every check can fail.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
APP_SERVICES = ("init", "dashboard", "api", "worker")
# Who waits for whom, and for what.
HEALTHY, DONE = "service_healthy", "service_completed_successfully"
DEPENDS = {
    "db": {},
    "redis": {},
    "init": {"db": HEALTHY, "redis": HEALTHY},
    "dashboard": {"db": HEALTHY, "redis": HEALTHY, "init": DONE},
    "api": {"db": HEALTHY, "redis": HEALTHY, "init": DONE},
    "worker": {"db": HEALTHY, "redis": HEALTHY, "init": DONE},
    "nginx": {"dashboard": HEALTHY},
}
COMMANDS = {
    "init": [
        "sh",
        "-c",
        "python -m core users init-admin && exec python -m core load --if-empty",
    ],
    "worker": ["python", "-m", "core", "worker"],
    "api": ["python", "-m", "api", "--host", "0.0.0.0", "--port", "8000"],
    "dashboard": [
        "python",
        "-m",
        "streamlit",
        "run",
        "dashboard/app.py",
        "--server.port",
        "8501",
        "--server.address",
        "0.0.0.0",
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ],  # fmt: skip
}
# Container port and health path of each service that serves HTTP; the others publish nothing.
SERVES = {"dashboard": (8501, "/_stcore/health"), "api": (8000, "/health")}
# Container ports published on the host: the dashboard only through nginx, so it can scale.
PUBLISHED = {"nginx": 8501, "api": 8000}
NGINX_TEMPLATE = "/etc/nginx/templates/default.conf.template"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY|AUTH", re.IGNORECASE)
# ${NAME}, ${NAME:-default}, ${NAME:?message} and $NAME; $$ is a literal dollar.
INTERPOLATION = re.compile(
    r"(?<!\$)\$(?:\{(?P<braced>[A-Za-z_]\w*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\}|(?P<bare>[A-Za-z_]\w*))"
)
REQUIRED = re.compile(r"^\$\{[A-Za-z_]\w*:\?[^}]+\}$")


def load_compose(text: str) -> dict:
    return yaml.safe_load(text)


def environment(service: dict) -> dict[str, str]:
    """A service's environment as a dict, from either of compose's two forms."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def interpolated(text: str) -> dict[str, set[str]]:
    """Each variable the compose text interpolates, with the operators it is used with."""
    found: dict[str, set[str]] = {}
    for match in INTERPOLATION.finditer(text):
        name = match["braced"] or match["bare"]
        found.setdefault(name, set()).add(match["op"] or "")
    return found


def literal_passwords(text: str) -> list[str]:
    """The URLs in `text` whose password is not a required interpolation."""
    found = {}

    def mask(match: re.Match) -> str:
        found[f"interpolated{len(found)}x"] = match[0]
        return f"interpolated{len(found) - 1}x"

    masked = INTERPOLATION.sub(mask, text)
    urls = [urlsplit(word.strip("\"'")) for word in masked.split() if "://" in word]
    return [
        url.geturl()
        for url in urls
        if url.password is not None and not REQUIRED.match(found.get(url.password, ""))
    ]


def strings(node):
    """Every string in a parsed YAML tree, keys included."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)
    elif isinstance(node, str):
        yield node


# --- compose checks ---


def service_problems(compose: dict) -> list[str]:
    services = compose.get("services", {})
    problems = [f"services: missing {name}" for name in DEPENDS if name not in services]
    problems += [f"services: unexpected {name}" for name in services if name not in DEPENDS]
    apps = [services.get(name, {}) for name in APP_SERVICES]
    images = {(service.get("image"), service.get("build")) for service in apps}
    if len(images) != 1 or None in next(iter(images)):
        problems.append(f"app services: not one image built from this folder: {images}")
    if not str(services.get("db", {}).get("image", "")).startswith("postgres:"):
        problems.append("db: image is not postgres")
    if not str(services.get("redis", {}).get("image", "")).startswith("redis:"):
        problems.append("redis: image is not redis")
    named = compose.get("volumes") or {}
    db_volumes = [str(v).split(":") for v in services.get("db", {}).get("volumes", [])]
    if not any(v[0] in named and v[1] == "/var/lib/postgresql/data" for v in db_volumes):
        problems.append("db: no named volume at /var/lib/postgresql/data")
    if services.get("init", {}).get("restart", "no") != "no":
        problems.append("init: restarts, but it must run once and exit")
    return problems


def healthcheck_problems(compose: dict, image_env: dict[str, str]) -> list[str]:
    services = compose["services"]
    problems = []
    checks = (("db", "pg_isready"), ("redis", "redis-cli ping"), ("nginx", "/_stcore/health"))
    for name, word in checks:
        test = services[name].get("healthcheck", {}).get("test", [])
        if word not in " ".join(test if isinstance(test, list) else [test]):
            problems.append(f"{name}: healthcheck does not run {word}")
    for name in APP_SERVICES:
        check = services[name].get("healthcheck", {})
        if name not in SERVES:
            if not check.get("disable"):
                problems.append(f"{name}: serves no HTTP, so the image's healthcheck must be off")
            continue
        if check:
            problems.append(f"{name}: replaces the image's healthcheck")
        port, path = SERVES[name]
        url = urlsplit(
            environment(services[name]).get("HEALTHCHECK_URL", image_env["HEALTHCHECK_URL"])
        )
        if (url.port, url.path) != (port, path):
            problems.append(f"{name}: healthcheck asks {url.geturl()}, not :{port}{path}")
    return problems


def depends_problems(compose: dict) -> list[str]:
    problems = []
    for name, service in compose["services"].items():
        depends = service.get("depends_on", {})
        if isinstance(depends, list):
            problems.append(f"{name}: depends_on is a list, so it waits for no condition")
            continue
        conditions = {other: (depends[other] or {}).get("condition") for other in depends}
        if conditions != DEPENDS.get(name, conditions):
            problems.append(f"{name}: waits for {conditions}, expected {DEPENDS[name]}")
    return problems


def command_problems(compose: dict) -> list[str]:
    services = compose["services"]
    problems = [
        f"{name}: command {services[name].get('command')} is not {command}"
        for name, command in COMMANDS.items()
        if services[name].get("command") != command
    ]
    if not (ROOT / "dashboard" / "app.py").is_file():
        problems.append("dashboard: dashboard/app.py does not exist")
    return problems


def port_problems(compose: dict) -> list[str]:
    problems = []
    for name, service in compose["services"].items():
        published = [str(port).rsplit(":", 1)[-1] for port in service.get("ports", [])]
        expected = [str(PUBLISHED[name])] if name in PUBLISHED else []
        if published != expected:
            problems.append(f"{name}: publishes container ports {published}, expected {expected}")
    for name in ("worker", "dashboard"):
        if "container_name" in compose["services"][name]:
            problems.append(f"{name}: a container_name stops `--scale {name}=N`")
    return problems


def scaling_problems(compose: dict, nginx_conf: str) -> list[str]:
    """Several dashboards behind nginx: the dashboard exposes its port to nginx only, nginx
    reads the config from this folder and keeps each browser on one dashboard (sticky by a
    cookie or by address), passes websockets on and lets the largest scoring file through."""
    services = compose["services"]
    problems = []
    if [str(port) for port in services["dashboard"].get("expose", [])] != ["8501"]:
        problems.append("dashboard: does not expose 8501 to nginx")
    nginx = services.get("nginx", {})
    mounts = [str(volume).split(":") for volume in nginx.get("volumes", [])]
    if not any(m[0].startswith("./deploy/nginx/") and m[1] == NGINX_TEMPLATE for m in mounts):
        problems.append(f"nginx: deploy/nginx/ is not mounted at {NGINX_TEMPLATE}")
    if environment(nginx).get("NGINX_UPLOAD_MB") != "${SCORING_UPLOAD_MB:-200}":
        problems.append("nginx: NGINX_UPLOAD_MB is not SCORING_UPLOAD_MB")
    conf = " ".join(line.split("#")[0] for line in nginx_conf.splitlines())
    upstream = re.search(r"upstream\s+(\w+)\s*\{([^}]*)\}", conf)
    if not upstream or not re.search(r"\bserver\s+dashboard:8501\b", upstream.group(2)):
        problems.append("nginx.conf: no upstream of dashboard:8501")
    elif not re.search(r"\b(ip_hash|hash\s+\$\w+\s+consistent)\s*;", upstream.group(2)):
        problems.append("nginx.conf: the upstream is not sticky (ip_hash or a consistent hash)")
    elif f"proxy_pass http://{upstream.group(1)};" not in conf:
        problems.append("nginx.conf: does not proxy_pass to the upstream")
    sticky_by_cookie = re.search(r"map\s+\$cookie_(\w+)", conf)
    if sticky_by_cookie and f'Set-Cookie "{sticky_by_cookie.group(1)}=' not in conf:
        problems.append("nginx.conf: hashes on a cookie it never sets")
    for header in ("Upgrade $http_upgrade", "Connection $connection_upgrade"):
        if f"proxy_set_header {header};" not in conf:
            problems.append(f"nginx.conf: no proxy_set_header {header} (websockets)")
    if "client_max_body_size ${NGINX_UPLOAD_MB}m;" not in conf:
        problems.append("nginx.conf: client_max_body_size is not NGINX_UPLOAD_MB")
    return problems


def secret_problems(compose: dict) -> list[str]:
    """Secrets only as required interpolations: no literal, and no default that would be one."""
    problems = []
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key) and not REQUIRED.match(value):
                problems.append(f"{name}: {key} is not a required ${{VAR:?message}}: {value!r}")
    for text in strings(compose):
        if literal_passwords(text):
            problems.append(f"a URL carries a literal password: {text}")
    return problems


def env_example_problems(compose_text: str, example: str) -> list[str]:
    """.env.example names each interpolated variable; the required ones uncommented and
    empty when they are secrets, so nothing real is ever in it."""
    assigned = dict(re.findall(r"^([A-Za-z_]\w*)=(.*)$", example, re.MULTILINE))
    commented = set(re.findall(r"^#\s*([A-Za-z_]\w*)=", example, re.MULTILINE))
    problems = []
    for name, ops in sorted(interpolated(compose_text).items()):
        if name not in assigned and name not in commented:
            problems.append(f".env.example: does not name {name}")
        elif ":?" in ops and name not in assigned:
            problems.append(f".env.example: {name} is required but commented out")
    for name, value in assigned.items():
        if SECRET_NAME.search(name) and value.strip():
            problems.append(f".env.example: {name} has a value; secrets stay empty there")
    return problems


# --- Dockerfile checks ---


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    result = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            result.append((word.upper(), " ".join(rest.split())))
    return result


def image_environment(dockerfile: str) -> dict[str, str]:
    env = {}
    for word, args in instructions(dockerfile):
        if word == "ENV":
            env.update(re.findall(r"([A-Za-z_]\w*)=(\S+)", args))
    return env


def dockerfile_problems(dockerfile: str) -> list[str]:
    steps = instructions(dockerfile)
    words = [word for word, _ in steps]
    problems = []
    if steps[:1] != [("FROM", "python:3.11-slim")]:
        problems.append(f"Dockerfile: starts with {steps[:1]}, not FROM python:3.11-slim")

    def first(word: str, pattern: str) -> int | None:
        found = [i for i, (w, args) in enumerate(steps) if w == word and re.search(pattern, args)]
        return found[0] if found else None

    copy_requirements = first("COPY", r"^requirements\.txt ")
    install = first("RUN", r"pip install -r requirements\.txt")
    copy_all = first("COPY", r"^\. ")
    if None in (copy_requirements, install, copy_all) or not (
        copy_requirements < install < copy_all
    ):
        problems.append("Dockerfile: requirements.txt is not copied and installed before COPY . .")
    users = [i for i, word in enumerate(words) if word == "USER"]
    cmd = words.index("CMD") if "CMD" in words else None
    if not users or cmd is None or users[-1] > cmd:
        problems.append("Dockerfile: no USER before CMD")
    elif steps[users[-1]][1].split(":")[0] in ("root", "0"):
        problems.append(f"Dockerfile: runs as {steps[users[-1]][1]}")
    checks = [args for word, args in steps if word == "HEALTHCHECK"]
    if not checks or "CMD" not in checks[-1]:
        problems.append("Dockerfile: no HEALTHCHECK")
    elif "HEALTHCHECK_URL" not in checks[-1]:
        problems.append("Dockerfile: the HEALTHCHECK ignores HEALTHCHECK_URL")
    if any(word in ("COPY", "ADD") and re.search(r"\.csv|data/", args) for word, args in steps):
        problems.append("Dockerfile: bakes the data set into the image")
    return problems


def patterns(ignore_file: str) -> set[str]:
    return {line.strip() for line in ignore_file.splitlines() if not line.startswith("#")}


def ignore_problems(dockerignore: str, gitignore: str) -> list[str]:
    problems = [
        f".dockerignore: does not keep {name} out of the image"
        for name in (".env", "data/", "*.csv", ".git", ".venv/")
        if name not in patterns(dockerignore)
    ]
    if ".env" not in patterns(gitignore):
        problems.append(".gitignore: .env could be committed")
    return problems


# --- the real files ---

COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()
ENV_EXAMPLE = (ROOT / ".env.example").read_text()
DOCKERIGNORE = (ROOT / ".dockerignore").read_text()
NGINX_CONF = (ROOT / "deploy" / "nginx" / "dashboard.conf.template").read_text()
GITIGNORE = (ROOT / ".gitignore").read_text()


@pytest.fixture
def compose() -> dict:
    return load_compose(COMPOSE_TEXT)


def test_the_stack_has_its_services_on_one_image(compose):
    assert service_problems(compose) == []


def test_every_service_that_can_be_checked_has_a_healthcheck(compose):
    assert healthcheck_problems(compose, image_environment(DOCKERFILE)) == []


def test_every_service_waits_for_what_it_needs(compose):
    assert depends_problems(compose) == []


def test_each_service_runs_its_command(compose):
    assert command_problems(compose) == []


def test_only_nginx_and_the_api_publish_ports(compose):
    assert port_problems(compose) == []


def test_the_dashboard_scales_behind_nginx_with_sticky_sessions(compose):
    assert scaling_problems(compose, NGINX_CONF) == []


def test_no_secret_is_written_in_the_compose_file(compose):
    assert secret_problems(compose) == []


def test_env_example_names_every_variable_the_compose_file_reads():
    assert env_example_problems(COMPOSE_TEXT, ENV_EXAMPLE) == []


def test_the_image_installs_dependencies_first_and_runs_as_a_user_with_a_healthcheck():
    assert dockerfile_problems(DOCKERFILE) == []


def test_secrets_and_data_stay_out_of_the_image_and_the_repository():
    assert ignore_problems(DOCKERIGNORE, GITIGNORE) == []


# --- broken copies: each check finds what it is for ---


def broken(text: str, old: str, new: str) -> str:
    assert old in text, f"the breakage no longer applies: {old!r} is not in the file"
    return text.replace(old, new)


def services(compose: dict) -> dict:
    return compose["services"]


BROKEN_COMPOSE = [
    ("no worker", service_problems, lambda c: services(c).pop("worker")),
    ("api on another image", service_problems, lambda c: services(c)["api"].update(image="x")),
    ("db without volume", service_problems, lambda c: services(c)["db"].pop("volumes")),
    ("db unchecked", healthcheck_problems, lambda c: services(c)["db"].pop("healthcheck")),
    (
        "worker checked as a dashboard",
        healthcheck_problems,
        lambda c: services(c)["worker"].pop("healthcheck"),
    ),
    (
        "api checked on the dashboard's port",
        healthcheck_problems,
        lambda c: services(c)["api"]["environment"].pop("HEALTHCHECK_URL"),
    ),
    (
        "dashboard starts before init ends",
        depends_problems,
        lambda c: services(c)["dashboard"]["depends_on"]["init"].update(condition="x"),
    ),
    (
        "worker waits for no condition",
        depends_problems,
        lambda c: services(c)["worker"].update(depends_on=["db", "redis"]),
    ),
    (
        "init waits for nothing",
        depends_problems,
        lambda c: services(c)["init"].pop("depends_on"),
    ),
    (
        "init loads always",
        command_problems,
        lambda c: services(c)["init"].update(command=["python", "-m", "core", "load"]),
    ),
    ("db published", port_problems, lambda c: services(c)["db"].update(ports=["5432:5432"])),
    (
        "worker cannot scale",
        port_problems,
        lambda c: services(c)["worker"].update(container_name="worker"),
    ),
    (
        "dashboard on a fixed host port",
        port_problems,
        lambda c: services(c)["dashboard"].update(ports=["8501:8501"]),
    ),
    (
        "dashboard cannot scale",
        port_problems,
        lambda c: services(c)["dashboard"].update(container_name="dashboard"),
    ),
    (
        "nginx starts before the dashboards answer",
        depends_problems,
        lambda c: services(c)["nginx"]["depends_on"]["dashboard"].update(condition="x"),
    ),
    ("nginx unchecked", healthcheck_problems, lambda c: services(c)["nginx"].pop("healthcheck")),
    (
        "dashboard hidden from nginx",
        lambda c: scaling_problems(c, NGINX_CONF),
        lambda c: services(c)["dashboard"].pop("expose"),
    ),
    (
        "nginx without its config",
        lambda c: scaling_problems(c, NGINX_CONF),
        lambda c: services(c)["nginx"].pop("volumes"),
    ),
    (
        "nginx with another upload limit",
        lambda c: scaling_problems(c, NGINX_CONF),
        lambda c: services(c)["nginx"]["environment"].update(NGINX_UPLOAD_MB="1"),
    ),
    (
        "literal password",
        secret_problems,
        lambda c: services(c)["db"]["environment"].update(POSTGRES_PASSWORD="credit"),
    ),
    (
        "password with a default",
        secret_problems,
        lambda c: services(c)["db"]["environment"].update(
            POSTGRES_PASSWORD="${POSTGRES_PASSWORD:-credit}"
        ),
    ),
    (
        "password in a URL",
        secret_problems,
        lambda c: services(c)["api"]["environment"].update(
            DATABASE_URL="postgresql://credit:credit@db:5432/credit"
        ),
    ),
    (
        "password on a command line",
        secret_problems,
        lambda c: services(c)["worker"].update(
            command=["sh", "-c", "rq worker --url redis://:hunter2@redis:6379/0"]
        ),
    ),
]


@pytest.mark.parametrize(
    "check, breakage", [case[1:] for case in BROKEN_COMPOSE], ids=[c[0] for c in BROKEN_COMPOSE]
)
def test_a_broken_compose_file_is_caught(compose, check, breakage):
    broken_compose = copy.deepcopy(compose)
    breakage(broken_compose)
    if check is healthcheck_problems:
        assert check(broken_compose, image_environment(DOCKERFILE))
    else:
        assert check(broken_compose)


def nginx_broken(old: str, new: str) -> list[str]:
    return scaling_problems(load_compose(COMPOSE_TEXT), broken(NGINX_CONF, old, new))


BROKEN_FILES = [
    (
        "nginx spreads requests round robin",
        lambda: nginx_broken("hash $dashboard_affinity consistent;", ""),
    ),
    (
        "nginx drops the websocket upgrade",
        lambda: nginx_broken("proxy_set_header Upgrade $http_upgrade;", ""),
    ),
    (
        "nginx proxies to one fixed dashboard",
        lambda: nginx_broken("server dashboard:8501", "server 10.0.0.7:8501"),
    ),
    (
        "nginx hashes on a cookie it never sets",
        lambda: nginx_broken("add_header Set-Cookie", "# add_header Set-Cookie"),
    ),
    (
        "nginx refuses large scoring files",
        lambda: nginx_broken("client_max_body_size ${NGINX_UPLOAD_MB}m;", ""),
    ),
    (
        "a new variable .env.example does not name",
        lambda: env_example_problems(COMPOSE_TEXT + "\n# ${NEW_SETTING:-1}\n", ENV_EXAMPLE),
    ),
    (
        "a password in .env.example",
        lambda: env_example_problems(
            COMPOSE_TEXT, broken(ENV_EXAMPLE, "POSTGRES_PASSWORD=\n", "POSTGRES_PASSWORD=x\n")
        ),
    ),
    (
        "a required variable commented out",
        lambda: env_example_problems(
            COMPOSE_TEXT, broken(ENV_EXAMPLE, "\nREDIS_PASSWORD=", "\n# REDIS_PASSWORD=")
        ),
    ),
    ("runs as root", lambda: dockerfile_problems(broken(DOCKERFILE, "USER app", "USER root"))),
    ("no user", lambda: dockerfile_problems(broken(DOCKERFILE, "USER app", ""))),
    (
        "user after the command",
        lambda: dockerfile_problems(broken(DOCKERFILE, "USER app", "") + "USER app\n"),
    ),
    (
        "code copied before the dependencies",
        lambda: dockerfile_problems(broken(DOCKERFILE, "WORKDIR /app", "WORKDIR /app\nCOPY . .")),
    ),
    (
        "no healthcheck",
        lambda: dockerfile_problems(broken(DOCKERFILE, "HEALTHCHECK", "# HEALTHCHECK")),
    ),
    (
        "a healthcheck for the dashboard only",
        lambda: dockerfile_problems(
            broken(DOCKERFILE, "os.environ['HEALTHCHECK_URL']", "'http://127.0.0.1:8501/'")
        ),
    ),
    (
        "the data baked in",
        lambda: dockerfile_problems(DOCKERFILE + "COPY data/credit.csv data/\n"),
    ),
    (
        ".env in the image",
        lambda: ignore_problems(broken(DOCKERIGNORE, "\n.env\n", "\n"), GITIGNORE),
    ),
]


@pytest.mark.parametrize("problems", [c[1] for c in BROKEN_FILES], ids=[c[0] for c in BROKEN_FILES])
def test_a_broken_file_is_caught(problems):
    assert problems()
