# syntax=docker/dockerfile:1
# Multi-stage: wheels are built in `build`; `runtime` (the five services, migrations, the `clm`
# CLI) gets the runtime dependencies only (requirements.runtime.lock: no pytest, mypy, ruff or
# selenium); `sink` adds the local mail/SMS/webhook sink for docker compose.
# The base is pinned to an exact version; pin the digest too in your registry mirror.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN pip install uv==0.13.8
COPY requirements.runtime.lock requirements.sink.lock pyproject.toml ./
RUN uv venv /opt/clm && VIRTUAL_ENV=/opt/clm uv pip install --no-cache -r requirements.runtime.lock
COPY shared ./shared
COPY services ./services
COPY deploy ./deploy
COPY clm_cli ./clm_cli
COPY migrations ./migrations
COPY alembic.ini README.md ./
RUN VIRTUAL_ENV=/opt/clm uv pip install --no-cache --no-deps .

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/clm/bin:$PATH
RUN useradd --system --uid 10001 --home-dir /app clm
WORKDIR /app
COPY --from=build /opt/clm /opt/clm
# Alembic reads alembic.ini and migrations/ from the working directory.
COPY alembic.ini ./
COPY migrations ./migrations
# uvicorn's own first lines as JSON too (`--log-config`, read from the environment).
COPY deploy/uvicorn-logging.json /app/uvicorn-logging.json
ENV UVICORN_LOG_CONFIG=/app/uvicorn-logging.json
USER 10001
# ingest 8001, lifecycle 8002, scoring 8003, notify 8004, audiences 8005, dashboard 8006: the
# command chooses the service.
EXPOSE 8001 8002 8003 8004 8005 8006
CMD ["uvicorn", "services.ingest.app:app", "--host", "0.0.0.0", "--port", "8001"]

FROM build AS sink-build
RUN VIRTUAL_ENV=/opt/clm uv pip install --no-cache -r requirements.sink.lock

FROM runtime AS sink
COPY --from=sink-build /opt/clm /opt/clm
USER root
RUN mkdir /data && chown 10001:10001 /data
USER 10001
EXPOSE 1025 9010
CMD ["python", "-m", "deploy.local.sink", "--host", "0.0.0.0", "--state", "/data"]
