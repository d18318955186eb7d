# The code-location image of legis-assets (deploy/k8s/values.yaml, deploy/README.md): the locked
# environment (uv.lock, `uv sync --frozen`, including the dev group that locks dagster-k8s,
# dagster-celery, dagster-postgres with psycopg2 and redis), the package, deploy/ and workspace.yaml.
# The same image serves the user-code gRPC server, run pods and step pods (k8s), and Celery workers.
#
#   docker build -t registry.example.org/legis-assets:0.1.0 .
#
# Python 3.11 as pinned in pyproject.toml; uv at the version the Makefile installs.
FROM python:3.11-slim-bookworm

ENV UV_VERSION=0.13.9 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_LINK_MODE=copy \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    LEGIS_HOME=/shared/legis \
    LEGIS_DATA_DIR=/shared/data

RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /app

# dependencies first (cached while only the code changes)
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-install-project

COPY legis_assets ./legis_assets
COPY deploy ./deploy
COPY workspace.yaml ./
RUN uv sync --frozen && mkdir -p "$DAGSTER_HOME"

ENV PATH=/app/.venv/bin:$PATH

# user-code gRPC server (the Helm chart passes its own dagsterApiGrpcArgs; this is the default)
EXPOSE 3030
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "--module-name", "legis_assets.definitions"]
