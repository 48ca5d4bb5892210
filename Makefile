# Sluice: the two commands a fresh Debian machine needs are `make run` and `make test`.
#
#   make deps    install what is missing (Debian packages, python test packages); idempotent
#   make build   release build into .build/release/
#   make run     deps + build, then redis, the demo backend and sluice with policies/
#   make test    deps, unit tests (swift test), then the integration tests (pytest)
#   make bench   bench/run h1-baseline: sluice, nginx, HAProxy, h2o, nghttpx side by side (SCENARIO=name for another)
#   make fuzz    libFuzzer on the HTTP/1 parsers, the HTTP/2 session and the policy loader, FUZZ_SECONDS each (Tests/Fuzz/README.md)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

SWIFT   ?= swift
PYTHON  ?= python3
POLICY  ?= policies
BACKEND_ADDR ?= 127.0.0.1:9001
RELEASE := .build/release
PYTEST_ARGS ?= -ra --durations=10

# Debian packages the build, the tests and the bench need.
APT_PACKAGES := libssl-dev openssl libnghttp2-dev libhiredis-dev pkg-config redis-server redis-tools \
                curl nghttp2-client wrk nginx-light haproxy h2o nghttp2-proxy prometheus testssl.sh nghttp2-server valgrind
# Python modules the integration tests and the bench import: module, or module:PyPI-name.
PY_MODULES := pytest h2 matplotlib yaml:PyYAML prometheus_client:prometheus-client

.PHONY: help deps check-swift build build-tests run test unit-test integration-test bench fuzz clean

help:
	@sed -n '3,9p' Makefile | sed 's/^# *//'

check-swift:
	@command -v $(SWIFT) >/dev/null 2>&1 || { \
	  echo "error: '$(SWIFT)' not found on PATH. Sluice needs the Swift 6 toolchain" >&2; \
	  echo "       (here it lives in /opt/swift/usr/bin: export PATH=/opt/swift/usr/bin:\$$PATH)." >&2; \
	  exit 1; }

# Installs only what is missing; runs `apt-get update` once, and only if something is missing.
deps: check-swift
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  [ "$$(dpkg-query -W -f='$${Status}' "$$p" 2>/dev/null)" = 'install ok installed' ] || missing="$$missing $$p"; \
	done; \
	if ! $(PYTHON) -m pip --version >/dev/null 2>&1; then missing="$$missing python3-pip"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing from Debian:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	else echo "deps: Debian packages present"; fi
	@missing=""; \
	for m in $(PY_MODULES); do \
	  $(PYTHON) -c "import $${m%%:*}" 2>/dev/null || missing="$$missing $${m#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "deps: installing from PyPI:$$missing"; \
	  $(PYTHON) -m pip install -q $$missing || $(PYTHON) -m pip install -q --break-system-packages $$missing; \
	else echo "deps: python modules present"; fi

build: check-swift
	$(SWIFT) build -c release

build-tests: check-swift
	$(SWIFT) build --build-tests

# Starts redis (if none answers; append-only as idempotency records need, fresh each run), the demo backend and
# sluice in the foreground.
# Ctrl-C stops sluice; the trap stops the backend (and the redis this target started).
run: deps build
	@started_redis=""; \
	if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then \
	  echo "run: starting redis-server on 127.0.0.1:6379"; \
	  rm -rf /tmp/sluice-redis-data; mkdir -p /tmp/sluice-redis-data; \
	  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly yes --dir /tmp/sluice-redis-data \
	    --daemonize no >/tmp/sluice-redis.log 2>&1 & \
	  started_redis=$$!; \
	  for i in $$(seq 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done; \
	fi; \
	$(RELEASE)/sluice-demo-backend --listen $(BACKEND_ADDR) & backend=$$!; \
	trap 'kill $$backend 2>/dev/null || true; [ -z "$$started_redis" ] || kill $$started_redis 2>/dev/null || true' EXIT; \
	$(RELEASE)/sluice run --policy $(POLICY)

# Unit tests, then the integration tests against the release binaries.
test: deps unit-test integration-test

unit-test: build-tests
	$(SWIFT) test

integration-test: build
	SLUICE_BIN_DIR=$(CURDIR)/$(RELEASE) $(PYTHON) -m pytest $(PYTEST_ARGS) Tests/Integration

SCENARIO ?= h1-baseline
bench: deps build
	bench/run $(SCENARIO)

# Fuzzing (Tests/Fuzz/README.md). Each target is rebuilt as a libFuzzer binary in its own
# scratch path and run for FUZZ_SECONDS over its kept corpus; new interesting inputs go to
# $(FUZZ_SCRATCH)/corpus/<target> (not into git). A crash, leak, timeout or OOM input is copied into
# Tests/Fuzz/corpus/<target>/, so it is kept and replayed by `make test`, and the target fails.
# SWIFT_BACKTRACE=enable=no: the Swift backtracer would race libFuzzer's crash handler under ASan.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= http1 http2 policy
FUZZ_ARGS    ?=
FUZZ_SCRATCH := .build-fuzz
FUZZ_CORPUS  := Tests/Fuzz/corpus

fuzz: check-swift
	@failed=""; \
	for t in $(FUZZ_TARGETS); do \
	  $(SWIFT) build -c release --product sluice-fuzz-$$t -Xswiftc -sanitize=fuzzer,address \
	    -Xswiftc -DSLUICE_LIBFUZZER --scratch-path $(FUZZ_SCRATCH); \
	  work=$(FUZZ_SCRATCH)/corpus/$$t; found=$(FUZZ_SCRATCH)/artifacts/$$t; \
	  mkdir -p $$work $$found; rm -f $$found/*; \
	  echo "fuzz: sluice-fuzz-$$t for $(FUZZ_SECONDS)s (new inputs in $$work)"; \
	  status=0; \
	  SWIFT_BACKTRACE=enable=no $(FUZZ_SCRATCH)/release/sluice-fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -max_len=8192 \
	    -print_final_stats=1 -artifact_prefix=$$found/ $(FUZZ_ARGS) $$work $(FUZZ_CORPUS)/$$t || status=$$?; \
	  kept=""; \
	  for a in $$found/*; do [ -f "$$a" ] || continue; cp "$$a" $(FUZZ_CORPUS)/$$t/; kept="$$kept $(FUZZ_CORPUS)/$$t/$$(basename $$a)"; done; \
	  if [ $$status -ne 0 ] || [ -n "$$kept" ]; then \
	    echo "fuzz: sluice-fuzz-$$t failed (exit $$status); kept:$${kept:- nothing}" >&2; failed="$$failed $$t"; \
	  fi; \
	done; \
	if [ -n "$$failed" ]; then echo "fuzz: failures in:$$failed; commit the kept inputs with the fix" >&2; exit 1; fi; \
	echo "fuzz: no crashes"

clean:
	$(SWIFT) package clean
	rm -rf $(FUZZ_SCRATCH)
