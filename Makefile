# VisionPipe Cloud API — local development entry points.
#   make dev                    serve the whole API on http://127.0.0.1:9000 (embedded store)
#   VP_STORE=dynamodb make dev  the same on a local DynamoDB-protocol server (moto, port 8000)
#   make test                   run every test (installs what it needs first)
#   make package                release bootstrap binaries for Lambda (arm64)
SHELL := /bin/bash
.DEFAULT_GOAL := help

PORT ?= 9000
# Instances per function. cargo lambda watch serves one request per instance at a time; Lambda
# itself runs many, so several instances make concurrent requests really race, as in AWS.
CONCURRENCY ?= 4
CARGO_LAMBDA_VERSION := 1.9.2
SAM_CLI_VERSION := 1.170.0
SCHEMATHESIS_VERSION := 4.32.5
STANDARDWEBHOOKS_VERSION := 1.3.0
LOCAL_DYNAMODB_PORT := 8000
# Where cargo builds (CARGO_TARGET_DIR or ./target); computed only by the recipes that use it.
TARGET_DIR = $(shell cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# Every Lambda function: one per route of common::routes::ROUTES, the fallback, the ledger
# function the table's stream feeds, the webhook sender the webhook queue feeds, and the key reminders a schedule runs (tests/tests/api/routes.rs checks this list).
LAMBDA_FUNCTIONS := create-key list-keys delete-key roll-key create-session check-key credits audit usage create-webhook list-webhooks delete-webhook test-webhook webhook-deliveries update-account secret-scanning jwks console fallback ledger webhook-sender key-reminders
# The local stack runs the functions on the embedded store; Lambda builds leave it out.
LOCAL_FEATURES := common/embedded
# cargo lambda watch would otherwise answer CORS for any origin. The console page it serves is
# same-origin (http://127.0.0.1:$(PORT)), so locally no other origin is answered; in AWS the
# template's CorsConfiguration admits the console origin only.
WATCH_FLAGS := --features $(LOCAL_FEATURES) --disable-cors --invoke-address 127.0.0.1 --invoke-port $(PORT) --concurrency $(CONCURRENCY)

# pip puts console scripts in the interpreter's scripts dir (or the user base with --user).
PY_SCRIPTS := $(shell python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
PY_USER_SCRIPTS := $(shell python3 -c 'import site, os; print(os.path.join(site.getuserbase(), "bin"))')
export PATH := $(PY_SCRIPTS):$(PY_USER_SCRIPTS):$(PATH)
export SAM_CLI_TELEMETRY := 0

PIP_INSTALL = python3 -m pip install --disable-pip-version-check -q

.PHONY: bench help dev test tools sam-tools test-tools browser-tools build lint-template iam-check iam-shapes mutants local-dynamodb stop-local-dynamodb package

help:
	@echo "make dev                    serve the API on 127.0.0.1:$(PORT) (embedded store)"
	@echo "VP_STORE=dynamodb make dev  serve it on local DynamoDB (moto on 127.0.0.1:$(LOCAL_DYNAMODB_PORT))"
	@echo "make test                   run every test"
	@echo "make package                build <target dir>/lambda/<function>/bootstrap for arm64"
	@echo "make iam-check              prove the recorded AWS requests against template.yaml's IAM policies (offline)"
	@echo "make iam-shapes             re-record infra/iam/requests.json from the functions' real requests"
	@echo "make mutants                mutation-test the pure modules with cargo-mutants (slow; not in make test)"
	@echo "make bench                  cold start vs a bare lambda_http function, peak RSS, handler CPU (release builds)"

## cargo-lambda (with zig) from PyPI when missing.
tools:
	@command -v cargo-lambda >/dev/null 2>&1 || { \
	  echo "installing cargo-lambda $(CARGO_LAMBDA_VERSION) from PyPI"; \
	  $(PIP_INSTALL) "cargo-lambda==$(CARGO_LAMBDA_VERSION)" || $(PIP_INSTALL) --user "cargo-lambda==$(CARGO_LAMBDA_VERSION)"; }
	@cargo lambda --version

## SAM CLI (which brings cfn-lint) from PyPI when missing.
sam-tools:
	@command -v sam >/dev/null 2>&1 && command -v cfn-lint >/dev/null 2>&1 || { \
	  echo "installing aws-sam-cli $(SAM_CLI_VERSION) (with cfn-lint) from PyPI"; \
	  $(PIP_INSTALL) "aws-sam-cli==$(SAM_CLI_VERSION)" || $(PIP_INSTALL) --user "aws-sam-cli==$(SAM_CLI_VERSION)"; }

## schemathesis (OpenAPI conformance against the local stack) and the Standard Webhooks
## authors' `standardwebhooks` package (the webhook receiver in tests/webhooks verifies every
## delivery with it) from PyPI when missing.
test-tools: sam-tools
	@command -v schemathesis >/dev/null 2>&1 || { \
	  echo "installing schemathesis $(SCHEMATHESIS_VERSION) from PyPI"; \
	  $(PIP_INSTALL) "schemathesis==$(SCHEMATHESIS_VERSION)" || $(PIP_INSTALL) --user "schemathesis==$(SCHEMATHESIS_VERSION)"; }
	@python3 -c 'import standardwebhooks' 2>/dev/null || { \
	  echo "installing standardwebhooks $(STANDARDWEBHOOKS_VERSION) from PyPI"; \
	  $(PIP_INSTALL) "standardwebhooks==$(STANDARDWEBHOOKS_VERSION)" || $(PIP_INSTALL) --user "standardwebhooks==$(STANDARDWEBHOOKS_VERSION)"; }

## The console page's browser test: Debian's Chromium (no browser download) and playwright-core
## (pinned in tests/browser/package-lock.json), which drives it over the DevTools protocol.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser-tools:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium"; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@test -d tests/browser/node_modules/playwright-core || npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
	@chromium --version

build:
	cargo build --workspace --bins

## The template, linted offline (`sam validate --lint` runs cfn-lint) and checked against the local
## table definition and the items and stream records the code really makes; the contract page
## (docs/API.md) checked against the OpenAPI file it is generated from.
lint-template: sam-tools
	sam validate --lint
	python3 infra/check_template.py
	python3 infra/api_doc.py --check

## IAM, offline and without compiling Rust: the recorded requests (infra/iam/requests.json) are
## allowed, the forbidden ones (must-deny.json) denied, every policy element is needed, and the
## checker itself catches a policy that lost something (check.test.mjs). Node is on the machine;
## the evaluator comes from npm (pinned in infra/iam/package-lock.json).
iam-check:
	@test -d infra/iam/node_modules/@cloud-copilot/iam-simulate || npm ci --prefix infra/iam --no-audit --no-fund --loglevel=error
	node infra/iam/check.mjs --mutations
	cd infra/iam && node --test --test-reporter=dot check.test.mjs

## Re-records the request shapes after a change to what the functions ask of AWS.
iam-shapes: build
	VP_RECORD_IAM_SHAPES=1 infra/with-moto.sh cargo test -p tests --features local-stack --test dynamodb iam_shapes -- --test-threads 1
	@$(MAKE) --no-print-directory iam-check

## Mutation testing of the pure modules (key format and hashing, names, ids, idempotency keys,
## JWK thumbprints, sealed replays, playground tokens and their signer, console-token
## verification) against the common crate's unit and property tests. Slow (a rebuild per mutant),
## so not part of `make test`; the report lands in mutants.out/. Every path named must exist (a
## module that became a folder would otherwise silently drop out of the run).
MUTANTS_VERSION := 27.1.0
MUTANT_PATHS := $(addprefix functions/common/src/,api_key.rs key_name.rs ids.rs idempotency.rs jwk.rs sealed.rs playground.rs fetch.rs console_auth secret_scanning)
mutants:
	@for p in $(MUTANT_PATHS); do test -e "$$p" || { echo "make mutants: $$p does not exist; update MUTANT_PATHS"; exit 1; }; done
	@command -v cargo-mutants >/dev/null 2>&1 || cargo install --locked cargo-mutants@$(MUTANTS_VERSION)
	cargo mutants --in-place --package common --no-shuffle $(foreach p,$(MUTANT_PATHS),--file '$(if $(filter %.rs,$(p)),$(p),$(p)/*.rs)')

dev: tools build
ifeq ($(VP_STORE),dynamodb)
	@$(MAKE) --no-print-directory local-dynamodb
	@# The ledger is written from the table's stream, as in AWS: vpctl relays it to the ledger
	@# function cargo lambda watch serves, and the webhook queue to the webhook sender (both
	@# relays stop with it).
	@set -a && . infra/local-dynamodb.env && set +a && \
	  { cargo run -q -p vpctl -- stream relay --invoke-url http://127.0.0.1:$(PORT) & relay=$$!; \
	    cargo run -q -p vpctl -- webhooks relay --invoke-url http://127.0.0.1:$(PORT) & hooks=$$!; \
	    trap 'kill $$relay $$hooks 2>/dev/null' EXIT INT TERM; \
	    cargo lambda watch $(WATCH_FLAGS) --env-file infra/local-dynamodb.env; }
else
	@# Webhook events wait in the embedded store's outbox; vpctl hands them to the webhook
	@# sender cargo lambda watch serves, as Lambda's SQS source does in AWS.
	@{ cargo run -q -p vpctl -- webhooks relay --invoke-url http://127.0.0.1:$(PORT) & hooks=$$!; \
	   trap 'kill $$hooks 2>/dev/null' EXIT INT TERM; \
	   cargo lambda watch $(WATCH_FLAGS); }
endif

## Starts moto on the fixed local port (unless something already listens there) and creates
## the table from infra/table.json. It keeps running after `make dev`; stop-local-dynamodb ends it.
local-dynamodb: build
	@if python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", $(LOCAL_DYNAMODB_PORT)), 0.5)' 2>/dev/null; then \
	  echo "local DynamoDB already on 127.0.0.1:$(LOCAL_DYNAMODB_PORT)"; \
	else \
	  mkdir -p .visionpipe && \
	  infra/local-dynamodb.sh $(LOCAL_DYNAMODB_PORT) .visionpipe/local-dynamodb.log > .visionpipe/local-dynamodb.pid && \
	  echo "local DynamoDB started on 127.0.0.1:$(LOCAL_DYNAMODB_PORT) (log .visionpipe/local-dynamodb.log)"; \
	fi
	@set -a && . infra/local-dynamodb.env && set +a && cargo run -q -p vpctl -- table create

stop-local-dynamodb:
	@if [ -f .visionpipe/local-dynamodb.pid ]; then kill "$$(cat .visionpipe/local-dynamodb.pid)" 2>/dev/null || true; rm -f .visionpipe/local-dynamodb.pid; fi

## Every test. Only what the tests run is built: cargo test builds vpctl and the test binaries,
## and cargo lambda watch builds the functions the HTTP tests call (a `cargo build --bins` first
## would link 12 binaries with another feature set that nothing runs). Each test binary must run
## at least one test, and VP_RECORD_IAM_SHAPES is cleared so that no test can record instead of
## compare.
TEST_BINARIES := common properties api dynamodb logs http stall cli
test: tools test-tools browser-tools lint-template iam-check
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --features tests/local-stack -- -D warnings
	cargo check $(addprefix -p ,$(LAMBDA_FUNCTIONS))
	python3 infra/check_deps.py $(LAMBDA_FUNCTIONS)
	set -o pipefail; env -u VP_RECORD_IAM_SHAPES infra/with-moto.sh cargo test --workspace --no-fail-fast --features tests/local-stack 2>&1 \
	  | python3 infra/check_test_counts.py $(TEST_BINARIES)

## Benchmarks, not timed tests: the numbers in docs/performance.md.
##  1. cold start: release create-session against the bare lambda_http baseline, A/B alternating,
##     through a Lambda Runtime API emulator (spawn -> first answer, peak RSS). The event is a
##     session with a malformed key, answered without a network call, so what differs from the
##     baseline is our init and request path, not a DynamoDB server's latency. Then the same for
##     a first request that goes on to the store over TLS (infra/bench/with_tls_endpoint.sh: the
##     handshake runs, the certificate is refused, a 503 after the SDK's retries).
##  2. create-session's handler on an in-memory store and on the embedded store in memory, and
##     the ES256 token alone (criterion; median = p50).
BENCH_ENV := VP_ENV=local VP_DATA_DIR=$(CURDIR)/.visionpipe/bench VP_TABLE_NAME=visionpipe-bench \
  AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
bench:
	cargo build --release -p create-session -p bench --bins
	@target=$(TARGET_DIR); \
	$$target/release/coldstart --rounds 40 --baseline $$target/release/bare --function $$target/release/create-session \
	  --event events/create-session-invalid-format.json $(addprefix --env ,$(BENCH_ENV)); \
	echo "-- a well-formed key, looked up over TLS at an endpoint whose certificate is refused (SDK, TLS handshake, retries, 503):"; \
	infra/bench/with_tls_endpoint.sh sh -c '"$$0" --rounds 10 "$$@" --env AWS_ENDPOINT_URL_DYNAMODB=$$TLS_ENDPOINT' \
	  $$target/release/coldstart --baseline $$target/release/bare --function $$target/release/create-session \
	  --event events/create-session.json $(addprefix --env ,$(BENCH_ENV)); \
	ls -l $$target/release/create-session $$target/release/bare | awk '{print $$5, $$9}'
	cargo bench -p bench --bench create_session -- --noplot

## Release binaries for Lambda on Graviton; prints each bootstrap's size, raw and zipped (the
## deployment package Lambda stores), and fails unless each is a PIE with full RELRO and a
## non-executable stack that zips to at most 3 MB (infra/bench/check_bootstrap.py).
package: tools
	cargo lambda build --release --arm64 $(addprefix -p ,$(LAMBDA_FUNCTIONS))
	@target=$(TARGET_DIR); python3 infra/bench/check_bootstrap.py $(foreach f,$(LAMBDA_FUNCTIONS),$$target/lambda/$(f)/bootstrap)
