# One command per task; each installs what it needs into .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# On machines that carry the data set beside the project, use it instead of downloading.
export CREDIT_DATA ?= $(wildcard $(abspath ../shared/data/credit.csv))

.PHONY: run test e2e screenshots lint bench install install-dev

$(VENV)/.runtime: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --quiet --upgrade pip
	$(PY) -m pip install --quiet --quiet -r requirements.txt
	$(PY) -m pip install --quiet --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PY) -m pip install --quiet --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# Streamlit reads .streamlit/config.toml from the directory it starts in: this one.
run: $(VENV)/.runtime
	$(PY) -m core load --if-empty || echo "No data loaded: the Home page explains how to load it."
	$(PY) -m streamlit run dashboard/app.py --server.port $(PORT) --server.headless true \
		--server.address 127.0.0.1 --browser.gatherUsageStats false \
		$(if $(SCORING_UPLOAD_MB),--server.maxUploadSize $(SCORING_UPLOAD_MB))

test: $(VENV)/.dev
	$(PY) -m pytest

# The walkthrough over a whole stack it starts on free ports (README, Tests); screenshots of
# every step in e2e-shots/. `make screenshots` also refreshes docs/screenshots/.
e2e: $(VENV)/.dev
	$(PY) -m pytest -m e2e tests/e2e/walkthrough

screenshots: $(VENV)/.dev
	E2E_DOCS=1 $(PY) -m pytest -m e2e tests/e2e/walkthrough

lint: $(VENV)/.dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Runs every script in bench/ and writes their figures into docs/PERFORMANCE.md
# (`$(PY) bench/report.py --only ingest,reasons` runs some). Measured as deployed: with
# Redis (query cache, RQ workers) on a database of its own, flushed by the benches.
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/13
bench: $(VENV)/.dev
	PYTHONPATH=. BENCH_REDIS_URL=$(BENCH_REDIS_URL) $(PY) bench/report.py
