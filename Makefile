# VisionPipe Cloud API — local development entry points.
#   make dev    serve the whole API on http://127.0.0.1:9000 (embedded store under .visionpipe/)
#   make test   run every test (installs what it needs first)
SHELL := /bin/bash
.DEFAULT_GOAL := help

PORT ?= 9000
# Instances per function. cargo lambda watch serves one request per instance at a time; Lambda
# itself runs many, so several instances make concurrent requests really race, as in AWS.
CONCURRENCY ?= 4
CARGO_LAMBDA_VERSION := 1.9.2

# pip puts console scripts in the interpreter's scripts dir (or the user base with --user).
PY_SCRIPTS := $(shell python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
PY_USER_SCRIPTS := $(shell python3 -c 'import site, os; print(os.path.join(site.getuserbase(), "bin"))')
export PATH := $(PY_SCRIPTS):$(PY_USER_SCRIPTS):$(PATH)

.PHONY: help dev test tools build

help:
	@echo "make dev    serve the API locally on 127.0.0.1:$(PORT) (embedded store)"
	@echo "make test   run every test"

## Installs cargo-lambda (with zig) from PyPI when it is missing.
tools:
	@command -v cargo-lambda >/dev/null 2>&1 || { \
	  echo "installing cargo-lambda $(CARGO_LAMBDA_VERSION) from PyPI"; \
	  python3 -m pip install --disable-pip-version-check -q "cargo-lambda==$(CARGO_LAMBDA_VERSION)" \
	  || python3 -m pip install --disable-pip-version-check -q --user "cargo-lambda==$(CARGO_LAMBDA_VERSION)"; }
	@cargo lambda --version

build:
	cargo build --workspace --bins

dev: tools build
	cargo lambda watch --invoke-address 127.0.0.1 --invoke-port $(PORT) --concurrency $(CONCURRENCY)

test: tools build
	infra/with-moto.sh cargo test --workspace
