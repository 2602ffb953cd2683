# The single entry point. `make run` serves the gateway with a demo campaign; `make test` runs
# every test. Both start project-local Redis and Postgres (data under .data/) unless
# GATEWAY_REDIS_URL / GATEWAY_DATABASE_URL point at real servers.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed
NATIVE_SO := $(wildcard gateway/_native*.so)
LOCAL_REDIS := redis://127.0.0.1:$(or $(GATEWAY_LOCAL_REDIS_PORT),56379)
LOCAL_PG := postgresql://gateway@127.0.0.1:$(or $(GATEWAY_LOCAL_PG_PORT),55432)
export GATEWAY_REDIS_URL ?= $(LOCAL_REDIS)/0
export GATEWAY_DATABASE_URL ?= $(LOCAL_PG)/gateway
# Tests use their own database and Redis db unless told otherwise.
TEST_REDIS_URL ?= $(if $(filter $(LOCAL_REDIS)/0,$(GATEWAY_REDIS_URL)),$(LOCAL_REDIS)/1,$(GATEWAY_REDIS_URL))
TEST_DATABASE_URL ?= $(if $(filter $(LOCAL_PG)/gateway,$(GATEWAY_DATABASE_URL)),$(LOCAL_PG)/gateway_test,$(GATEWAY_DATABASE_URL))
# The cluster half of the tests (`make test-cluster`, in `make test`): the claim path's suites
# again on the project-local Redis Cluster (`make cluster`), with a database of its own so that its
# campaigns' hot state lives in one Redis only (the app's workers pick up jobs from Postgres).
CLUSTER_URL := redis://127.0.0.1:$(or $(GATEWAY_CLUSTER_BASE_PORT),57001)/0
TEST_CLUSTER_REDIS_URL ?= $(CLUSTER_URL)
TEST_CLUSTER_DATABASE_URL ?= $(if $(filter $(LOCAL_PG)/gateway,$(GATEWAY_DATABASE_URL)),$(LOCAL_PG)/gateway_test_cluster,$(GATEWAY_DATABASE_URL))
CLUSTER_TESTS := $(wildcard $(addprefix tests/integration/,test_claims.py test_transfers.py \
  test_exchanges.py test_checkout.py test_grant_jobs.py test_durability.py test_buckets.py \
  test_cluster_store.py test_claimpipe.py test_reshard.py))

.PHONY: run test test-cluster drills lint fmt build venv services services-stop cluster cluster-stop migrate bench loadtest clean browser

$(VENV_STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	.venv/bin/pip install -q $$(python3 scripts/deps.py)
	touch $@

venv: $(VENV_STAMP)

# `maturin develop` (not --skip-install) also installs the project itself, editable: the native
# module in place and the `gateway` console script as .venv/bin/gateway. Its dependencies are
# already there (the venv stamp), so pip only confirms them.
# The native module links OpenSSL (native-tls: rediss:// and Postgres sslmode): Debian's
# libssl-dev and pkg-config when missing.
build: $(VENV_STAMP)
	pkg-config --exists openssl 2>/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq libssl-dev pkg-config >/dev/null)
	.venv/bin/maturin develop --release -q 2>&1 | grep -v '^📦\|^✏️\|^🛠\|^Requirement already satisfied\|^Ignoring ' || true
	test -x .venv/bin/gateway
	$(PY) -c "from gateway import _native; print('native', _native.__version__)"

# The browser tests (tests/browser) drive Debian's chromium through Playwright, never a
# downloaded browser; a CJK font, or every Chinese character in a screenshot is an empty box.
browser:
	test -x /usr/bin/chromium && fc-list :lang=zh | grep -q . || \
	  (apt-get update -qq && apt-get install -y -qq chromium fonts-noto-cjk >/dev/null)

services:
	GATEWAY_REDIS_URL=$(filter-out $(LOCAL_REDIS)/0,$(GATEWAY_REDIS_URL)) \
	GATEWAY_DATABASE_URL=$(filter-out $(LOCAL_PG)/gateway,$(GATEWAY_DATABASE_URL)) \
	  scripts/services.sh start

services-stop:
	GATEWAY_REDIS_URL=$(filter-out $(LOCAL_REDIS)/0,$(GATEWAY_REDIS_URL)) \
	GATEWAY_DATABASE_URL=$(filter-out $(LOCAL_PG)/gateway,$(GATEWAY_DATABASE_URL)) \
	  scripts/services.sh stop

# A project-local Redis Cluster (3 masters, 3 replicas on 127.0.0.1:57001..57006, data under
# .data/cluster/): serve against it with GATEWAY_REDIS_CLUSTER=1 GATEWAY_REDIS_URL=<printed URL>.
cluster:
	scripts/cluster.sh start

cluster-stop:
	scripts/cluster.sh stop

migrate: build services
	$(PY) -m gateway migrate

run: migrate
	$(PY) -m gateway demo
	@echo "serving on http://$${GATEWAY_HOST:-127.0.0.1}:$${GATEWAY_PORT:-8000} (Ctrl-C stops)"
	GATEWAY_DEMO_PAGES=$${GATEWAY_DEMO_PAGES:-1} $(PY) -m gateway serve

test: build services browser
	GATEWAY_DATABASE_URL=$(TEST_DATABASE_URL) $(PY) -m gateway migrate
	cargo test --release -q
	GATEWAY_REDIS_URL=$(TEST_REDIS_URL) GATEWAY_DATABASE_URL=$(TEST_DATABASE_URL) \
	  $(PY) -m pytest
	$(MAKE) test-cluster
	$(MAKE) lint

test-cluster: build services cluster
	GATEWAY_DATABASE_URL=$(TEST_CLUSTER_DATABASE_URL) $(PY) -m gateway migrate
	GATEWAY_REDIS_CLUSTER=1 GATEWAY_REDIS_URL=$(TEST_CLUSTER_REDIS_URL) \
	GATEWAY_DATABASE_URL=$(TEST_CLUSTER_DATABASE_URL) $(PY) -m pytest $(CLUSTER_TESTS)

# The crash drills alone (they also run in `make test`): a storm of claims while Redis,
# Postgres or a gateway worker is killed with SIGKILL (tests/drills).
drills: build services
	GATEWAY_REDIS_URL=$(TEST_REDIS_URL) GATEWAY_DATABASE_URL=$(TEST_DATABASE_URL) \
	  $(PY) -m pytest tests/drills

lint: $(VENV_STAMP)
	.venv/bin/ruff check gateway tests loadtests
	.venv/bin/ruff format --check gateway tests loadtests
	.venv/bin/mypy --strict gateway
	$(PY) -m mypy.stubtest gateway._native --allowlist .stubtest-allowlist
	cargo fmt --all --check
	cargo clippy --release --all-targets -q -- -D warnings

fmt: $(VENV_STAMP)
	.venv/bin/ruff format gateway tests loadtests
	.venv/bin/ruff check --fix gateway tests loadtests
	cargo fmt --all

bench: build services
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) loadtests/bench.py
	$(PY) loadtests/bench_cluster.py --write  # issue 15: the cluster section of BENCHMARKS.md

loadtest: build services
	$(PY) loadtests/run_loadtest.py

clean:
	rm -rf target .venv gateway/_native*.so
