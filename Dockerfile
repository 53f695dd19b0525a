# One image for every engine process: `abm worker`, `abm collector`, `abm alerts`, and the
# one-shot commands (`abm topics create`, `abm directory load`, `abm replay`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY abm abm
COPY stream stream
COPY producers producers
COPY alerting alerting
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/abm --create-home abm
COPY samples samples

USER abm
ENV ABM_STATE_DIR=/var/lib/abm \
    ABM_CACHE_DIR=/var/lib/abm/cache \
    ABM_WEB_BIND=0.0.0.0
EXPOSE 6066 8088 8089
CMD ["abm", "worker"]
