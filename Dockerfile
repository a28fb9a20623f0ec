# The Model Trainer Service image: runs the API by default; the worker is the same image
# with `command: python worker.py` (see docker-compose.temporal.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 trainer \
    && useradd --system --uid 10001 --gid trainer --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin trainer

WORKDIR /app

# Only what the service needs (no .venv, .run, tests or benchmarks in the image).
COPY pyproject.toml worker.py ./
COPY core ./core
COPY store ./store
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY emulators ./emulators
COPY cli ./cli
RUN pip install . \
    && mkdir -p /data/datasets \
    && chown -R trainer:trainer /app /data

USER trainer

ENV DATASET_ROOT=/data/datasets
EXPOSE 8000

CMD ["uvicorn", "api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
