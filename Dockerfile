# One image for the API and the GPU workers (docker-compose.yml picks the command).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    STAGEWISE_DATA_DIR=/data

WORKDIR /app
# Dependencies first, so editing the code does not reinstall torch.
COPY pyproject.toml README.md ./
RUN mkdir -p app worker && touch app/__init__.py worker/__init__.py \
    && pip install -e . \
    && rm -rf app worker

COPY alembic.ini ./
COPY migrations ./migrations
COPY templates ./templates
COPY app ./app
COPY worker ./worker
# Editable install: `migrations/` and `templates/` are found beside the package.
RUN pip install --no-deps -e .

# Not root; /data (datasets, checkpoints) is a volume shared by the API and workers.
RUN useradd --create-home --uid 1000 stagewise && mkdir -p /data && chown stagewise /data
USER stagewise
VOLUME ["/data"]
EXPOSE 8000

# Migrates, then serves the API + dashboard; workers run `stagewise worker` instead.
CMD ["stagewise", "serve", "--no-worker", "--host", "0.0.0.0", "--port", "8000"]
