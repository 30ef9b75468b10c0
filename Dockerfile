# One image for the four services; the command chooses which one runs.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install --no-cache-dir uv==0.13.8 && uv pip install --system --no-cache -r requirements.lock
COPY shared ./shared
COPY services ./services
COPY deploy ./deploy
COPY migrations ./migrations
COPY alembic.ini ./
RUN uv pip install --system --no-cache --no-deps .
RUN useradd --system --uid 10001 clm
USER clm
EXPOSE 8000
CMD ["uvicorn", "services.ingest.app:app", "--host", "0.0.0.0", "--port", "8000"]
