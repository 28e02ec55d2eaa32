# royalty: the two commands are `make demo` and `make test`.
GO      ?= go
BUF     := $(GO) tool buf
PKGS    := ./...
TESTFLAGS ?= -count=1 -timeout 60m

.PHONY: demo screenshots test lint generate checkgenerate build bench-ledger bench-balance bench-scale bench-export bench-attribution bench-sqlindex eval-attribution bench-ingest soak bench-e2e

## demo: run the whole story on a throwaway database and exit
demo:
	$(GO) run ./cmd/royalty demo

## test: every test, against a throwaway PostgreSQL (or ROYALTY_TEST_DATABASE_URL)
## screenshots: run the web app's browser journey and refresh docs/screenshots/
screenshots:
	ROYALTY_TEST_SCREENSHOTS=docs $(GO) test -count=1 -run TestWebJourney ./cmd/royalty/

test:
	$(GO) test $(TESTFLAGS) $(PKGS)

build:
	$(GO) build -o bin/royalty ./cmd/royalty

## bench-ledger: ledger reports/s vs pgbench tps on one throwaway durable PostgreSQL (about 2 minutes)
bench-ledger:
	$(GO) run ./cmd/royalty-bench-ledger $(BENCHFLAGS)

## bench-balance: GetBalance p50 for an account of 10k postings and one of 10M (checkpoint + tail), full sums as baseline (RESULT line; about 15 minutes, ~3 GB of disk)
bench-balance:
	$(GO) run ./cmd/royalty-bench-balance $(BENCHFLAGS)

## bench-scale: ReportUsage throughput and p99 through one `royalty serve` vs two on the same durable PostgreSQL (RESULT line; about 2 minutes)
bench-scale:
	$(GO) run ./cmd/royalty-bench-scale $(BENCHFLAGS)

## bench-export: journal export rows/s and peak RSS at 250k and 1M postings, against PostgreSQL COPY of the join and of the leaf rows it reads (a few minutes)
bench-export:
	$(GO) run ./cmd/royalty-bench-export $(BENCHFLAGS)

## bench-e2e: ReportUsage through `royalty serve` (gRPC at 8 and 32 clients, HTTP/JSON at 8) on a
## 200,000-post index and a durable PostgreSQL, against pgbench on the same server (RESULT lines; about 6 minutes)
bench-e2e:
	$(GO) run ./cmd/royalty-bench-e2e $(BENCHFLAGS)

## soak: two royalty serve replicas under load and faults for SOAK_DURATION (default 2m), then the checker
SOAK_DURATION ?= 2m
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) run ./cmd/royalty-soak $(SOAKFLAGS)

## lint: go vet, gofmt, buf lint, buf format
lint:
	$(GO) vet $(PKGS)
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(BUF) lint
	$(BUF) format -d --exit-code

GENERATED := proto/gen services/openapi

## generate: regenerate the gRPC code and the OpenAPI document from proto/ with local plugins
generate:
	$(BUF) generate

## checkgenerate: fail when regenerating changes the committed code
checkgenerate: generate
	@git add -N $(GENERATED) >/dev/null 2>&1 || true
	@if ! git diff --quiet -- $(GENERATED); then \
		echo "generated code is stale: run 'make generate' and commit"; git diff --stat -- $(GENERATED); exit 1; fi
	@echo "generated code is current"

## bench-attribution: attribution latency (1 and 8 callers) and recall (verbatim, light and heavy edits) on a 200,000-post Bleve index (RESULT line)
bench-attribution:
	$(GO) run ./cmd/royalty-bench-attribution $(BENCHFLAGS)

## eval-attribution: attribution metrics on a labelled corpus indexed in memory
eval-attribution:
	$(GO) run ./cmd/royalty-eval-attribution $(EVALFLAGS)

## bench-sqlindex: attribution on the SQL index against the in-memory one, at 200,000 and 1,000,000 posts (RESULT line)
bench-sqlindex:
	$(GO) run ./cmd/royalty-bench-sqlindex $(BENCHFLAGS)

## bench-ingest: index ≥100,000 synthetic posts (lengths of the real dumps) through plain Bleve and through the pipeline, alternating, 3 rounds (about 3 minutes)
bench-ingest:
	$(GO) run ./cmd/royalty-bench-ingest -n 100000 $(BENCHFLAGS)
