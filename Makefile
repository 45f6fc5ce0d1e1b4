# The two set-up commands: `make run` and `make test`. Each installs what is missing first.
SHELL := /bin/bash
WEAVIATE_VERSION := 1.39.3
SHARED ?= ../shared
CONFIG ?= config/sample.yaml
CHANNEL ?= C0CONSOLE
export UV_PYTHON_DOWNLOADS := never
export WEAVIATE_VERSION

# The embedding model: the shared offline copy when there is one, else fastembed's download.
ifneq ($(wildcard $(SHARED)/models/all-MiniLM-L6-v2-onnx/model.onnx),)
export EMBED_MODEL_PATH ?= $(abspath $(SHARED)/models/all-MiniLM-L6-v2-onnx)
endif

# Its int8 variant, made once from those files into the user's cache (scripts/quantize_model.py
# knows the folder; this path only lets make skip the script when it is there).
INT8_MODEL := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/supportbot/models/all-MiniLM-L6-v2-onnx-int8/model.onnx

UV := $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PY := .venv/bin/python

.PHONY: run test lint bench bench-answers bench-quality weaviate setup postgres test-tools

setup: .venv/.synced weaviate $(INT8_MODEL)

$(UV):
	python3 -m pip install --user --quiet uv || python3 -m pip install --quiet uv

.venv/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --extra eval
	touch $@

$(INT8_MODEL): | .venv/.synced
	$(PY) -m scripts.quantize_model --config $(CONFIG)

postgres:
	@scripts/install_postgres.sh

# Chromium (the digest page test) and docker-compose (the compose file test), from Debian.
test-tools:
	@scripts/install_test_tools.sh

weaviate:
	@WEAVIATE_BIN="$${WEAVIATE_BIN:-}" scripts/install_weaviate.sh >/dev/null

# The samples are ingested in ONE run of samples/manifest.yaml, which gives samples/policies
# to everyone and (where ../shared has them) each policy-qa PDF to the access group its folder
# starts with. That run skips files whose bytes and options are unchanged without parsing them;
# the stamp spares even its start-up while no listed file changed. Settings are not a
# prerequisite: audiences live in the manifest (after changing chunking settings, run the
# ingest line yourself). The manifest finds the PDFs at ../shared, whatever SHARED says.
DATA_DIR := $(or $(SUPPORTBOT_DATA_DIR),data)
SAMPLES_STAMP := $(DATA_DIR)/.samples-ingested
MANIFEST := samples/manifest.yaml

POLICY_QA := $(wildcard $(SHARED)/data/policy-qa/*/*.pdf)

$(SAMPLES_STAMP): $(MANIFEST) $(wildcard samples/policies/*) $(POLICY_QA) | setup
	$(PY) app.py --config $(CONFIG) --data-dir $(DATA_DIR) ingest --manifest $(MANIFEST)
	touch $@

run: setup $(SAMPLES_STAMP)
	$(PY) app.py --config $(CONFIG) --data-dir $(DATA_DIR) chat --channel $(CHANNEL)

# Two workers (pytest-xdist), each with its own Weaviate and PostgreSQL; a module's tests stay
# on one worker so its fixtures are built once. PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
test: setup postgres test-tools
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadscope $(PYTEST_ARGS)

lint: .venv/.synced
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: setup postgres
	$(PY) -m bench.retrieval_bench
	$(PY) -m bench.embedding_bench
	$(PY) -m bench.answer_bench
	$(PY) -m bench.answer_quality
	$(PY) -m bench.mtrag_retrieval
	$(PY) -m bench.slack_bench
	$(PY) -m bench.ingest_cost_bench
	$(PY) -m bench.export_bench
	$(PY) -m bench.replicas_bench
	$(PY) -m bench.outage_bench
	$(PY) -m bench.journal_bench
	$(PY) -m bench.cluster_bench
	$(PY) -m bench.startup_bench

bench-answers: setup
	$(PY) -m bench.answer_bench

# Answer quality on the 957 policy-qa questions and off-topic ones, before (commit 5289190) and after.
bench-quality: setup
	$(PY) -m bench.answer_quality
