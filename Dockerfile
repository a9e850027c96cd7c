# One image for every service; the command chooses what it runs:
#   dashboard (default)  streamlit run dashboard/app.py ...
#   api                  python -m api --host 0.0.0.0 --port 8000
#   worker               python -m core worker
#   init                 python -m core load --if-empty   (migrates first)
# The data set is not in the image: `init` reads CREDIT_DATA (a mounted file or a URL),
# else downloads it. docs/DEPLOY.md describes the compose stack built on this image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# libgomp1: the OpenMP runtime that LightGBM and scikit-learn's compiled models load.
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, so a change of code rebuilds only the layers below.
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
RUN pip install --no-deps -e .

# The services run as an unprivileged user; data/ (the downloaded copy of the data set) is
# the only place in /app it writes to.
RUN useradd --create-home --uid 10001 --user-group app \
    && mkdir -p /app/data && chown app:app /app/data
USER app

EXPOSE 8501 8000
# The dashboard's health by default; the API sets HEALTHCHECK_URL to its own /health.
ENV HEALTHCHECK_URL=http://127.0.0.1:8501/_stcore/health
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=4)"]

CMD ["python", "-m", "streamlit", "run", "dashboard/app.py", "--server.port", "8501", "--server.address", "0.0.0.0", "--server.headless", "true", "--browser.gatherUsageStats", "false"]
