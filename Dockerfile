# syntax=docker/dockerfile:1
# The msp image: the same lock-file install as a developer's (uv sync --locked), without the
# dev group, built in one stage and copied into a slim runtime stage that has no compiler, no
# uv and no package caches, and runs as an unprivileged user.
#
#   docker build -t msp .
#   docker run --rm -p 8000:8000 -e MSP_DATABASE_URL=... -e MSP_REDIS_URL=... msp          # web
#   docker run --rm -e ... msp worker --queues=checks,reports
#   docker run --rm -e ... msp scheduler                        # exactly one
#   docker run --rm -e ... msp db upgrade heads                 # before starting a new version

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: resolve nothing, install exactly what uv.lock pins ----------------------------
FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir --disable-pip-version-check "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first: this layer is reused until pyproject.toml or uv.lock change.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY msp ./msp
COPY workers ./workers
COPY migrations ./migrations
# The project itself, editable (as in development): `msp db upgrade` finds migrations/ beside msp/.
RUN uv sync --locked --no-dev

# --- runtime ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 msp \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin msp
WORKDIR /app
# Owned by root and not writable by the app user; /tmp is the only place it writes to.
COPY --from=builder /app /app
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TZ=UTC \
    MSP_ENV=production \
    MSP_LOG_FORMAT=json
USER 10001:10001
EXPOSE 8000
# /healthz answers while the web process lives (readiness, with database and Redis, is /readyz).
# Containers running `msp worker` or `msp scheduler` from this image serve no HTTP: the check
# passes for them instead of marking them unhealthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; argv = open('/proc/1/cmdline', 'rb').read().split(b'\\0'); sys.exit(0) if b'web' not in argv else urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
# exec form: msp is PID 1 and receives SIGTERM itself (gunicorn and RQ both reap their children).
ENTRYPOINT ["msp"]
CMD ["web"]
