# Janus MCP gateway: a two-stage image. Stage 1 builds the wheel from the source tree; stage 2 installs
# only that wheel, with the exact pins of requirements.txt, into a slim Python 3.11 image and runs it
# as a non-root user. State (the SQLite file and the local vault) lives in the /data volume.
#
#   docker build -t janus .
#   docker run -p 8080:8080 -v janus-data:/data janus                  # portal on http://localhost:8080
#   docker run -i --rm -v janus-data:/data janus -stdio                # MCP over stdin/stdout
#
# Arguments after the image name go to `mcp-gateway` (the ENTRYPOINT), so `-stdio` works as above.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY janus ./janus
COPY migrations ./migrations
# --no-deps: the dependencies are installed from requirements.txt's pins in the runtime stage.
RUN python -m pip wheel --no-deps --wheel-dir /dist .

FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 janus \
    && useradd --system --uid 10001 --gid janus --home-dir /data --no-create-home --shell /usr/sbin/nologin janus \
    && mkdir -p /data \
    && chown janus:janus /data
COPY requirements.txt /tmp/requirements.txt
COPY --from=build /dist/ /tmp/dist/
RUN python -m pip install --no-compile -r /tmp/requirements.txt /tmp/dist/*.whl \
    && rm -rf /tmp/dist /tmp/requirements.txt
# The reference's port and file names; DATABASE_URL (PostgreSQL) overrides DATABASE_PATH when set.
ENV HOST=0.0.0.0 \
    PORT=8080 \
    DATABASE_PATH=/data/mcp-gateway.db \
    VAULT_LOCAL_PATH=/data/secrets.json
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8080
# No curl in the slim image: the standard library probes /healthz (alive, no database needed).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4).status == 200 else 1)"]
ENTRYPOINT ["mcp-gateway"]
