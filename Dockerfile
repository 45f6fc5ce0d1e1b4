# syntax=docker/dockerfile:1.7
# The bot as an image: `serve` on port 3000, state in /data, an external Weaviate and
# PostgreSQL (deploy/compose.yaml runs all three). Build: `docker build -t supportbot .`
#
# The embedding model is fetched at build time into /models (EMBED_MODEL names it).
# Without access to the model hub, mount a fastembed model folder instead and point
# EMBED_MODEL_PATH at it (e.g. -v ./models/all-MiniLM-L6-v2-onnx:/models/local:ro
# -e EMBED_MODEL_PATH=/models/local), building with --build-arg EMBED_MODEL=none.

ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

# --- dependencies and code: uv installs the lockfile into /app/.venv ---------------------
FROM ${PYTHON_IMAGE} AS build
COPY --from=uv /uv /usr/local/bin/uv
# Copy (not hard-link) from uv's cache; byte-compile now so the read-only image never has to.
ENV UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# The lockfile first: the dependency layer is rebuilt only when it changes.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --extra eval --no-install-project
COPY app.py ./
COPY adapters ./adapters
COPY bot ./bot
COPY eval ./eval
COPY knowledge ./knowledge
COPY config ./config

# --- the embedding model ----------------------------------------------------------------
FROM build AS model
ARG EMBED_MODEL=sentence-transformers/all-MiniLM-L6-v2
ENV FASTEMBED_CACHE_PATH=/models
RUN mkdir -p /models && if [ "${EMBED_MODEL}" != "none" ]; then \
      /app/.venv/bin/python -c "import sys; from fastembed import TextEmbedding; TextEmbedding(sys.argv[1])" "${EMBED_MODEL}"; \
    fi

# --- runtime: no build tools, no uv, a non-root user --------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 supportbot \
    && useradd --system --uid 10001 --gid supportbot --home-dir /app --no-create-home supportbot \
    && mkdir /data \
    && chown supportbot:supportbot /data
COPY --from=build /app /app
COPY --from=model /models /models
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SUPPORTBOT_DATA_DIR=/data \
    SUPPORTBOT_CONFIG=/app/config/sample.yaml \
    FASTEMBED_CACHE_PATH=/models \
    HF_HUB_OFFLINE=1 \
    RAGAS_DO_NOT_TRACK=true
WORKDIR /app
USER 10001:10001
VOLUME ["/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:3000/health', timeout=4).status != 200)"]
ENTRYPOINT ["python", "app.py"]
CMD ["serve", "--host", "0.0.0.0", "--port", "3000"]
