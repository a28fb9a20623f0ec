# The Model Trainer Service images, one build target each (see docker-compose.temporal.yml):
#
#   service     the default (last) stage: the API, and the CPU worker with
#               `command: python worker.py`. It installs `.` only: no torch, no training
#               stack (the CPU worker counts tokens with `tokenizers`, serves adapters and
#               evaluates through HTTP).
#   gpu-worker  the GPU worker, `python worker.py gpu`: the same code with the `training`
#               extra (torch, transformers, peft, trl, accelerate, datasets, safetensors).
#               PyPI's torch wheels for Linux are the CUDA build and bring the CUDA runtime
#               with them (~3 GB); the host needs only the NVIDIA driver and the container
#               toolkit.
#
#   docker build -t model-trainer .
#   docker build --target gpu-worker -t model-trainer-gpu .

# The service's own files, once for both images (no .venv, .run, tests or benchmarks).
FROM scratch AS sources
WORKDIR /app
COPY pyproject.toml worker.py ./
COPY core ./core
COPY store ./store
COPY workflows ./workflows
COPY activities ./activities
COPY api ./api
COPY emulators ./emulators
COPY cli ./cli

FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 trainer \
    && useradd --system --uid 10001 --gid trainer --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin trainer

WORKDIR /app

# The pinned dependencies, read from pyproject.toml, in a layer of their own: a change to the
# code reinstalls none of them.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(*p['dependencies'], sep=chr(10))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Weights, tokenizers and chat templates come from the Hugging Face cache (a volume filled
# ahead of time); nothing downloads while the service runs.
ENV HF_HOME=/data/hf \
    HF_HUB_OFFLINE=1


FROM base AS gpu-worker

# The training stack first (the largest layer, rebuilt only when its pins change).
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print(*p['optional-dependencies']['training'], sep=chr(10))" > /tmp/training.txt \
    && pip install -r /tmp/training.txt \
    && rm /tmp/training.txt

COPY --from=sources /app ./
RUN pip install '.[training]' \
    && mkdir -p /data/hf /data/training \
    && chown -R trainer:trainer /app /data

USER trainer

# Scratch space of a training run: the base model's dataset copy, checkpoints, the adapter.
ENV SELF_HOSTED_WORK_DIR=/data/training

CMD ["python", "worker.py", "gpu"]


FROM base AS service

COPY --from=sources /app ./
RUN pip install . \
    && mkdir -p /data/datasets /data/hf /data/adapters \
    && chown -R trainer:trainer /app /data

USER trainer

ENV DATASET_ROOT=/data/datasets
EXPOSE 8000

CMD ["uvicorn", "api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
