# WhatsApp Gateway backend. `make run` starts the server, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO           ?= go
BIN          := $(CURDIR)/bin
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT       ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE         ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS      := -s -w -X github.com/wagateway/gateway/internal/buildinfo.Version=$(VERSION) \
                -X github.com/wagateway/gateway/internal/buildinfo.Commit=$(COMMIT) \
                -X github.com/wagateway/gateway/internal/buildinfo.Date=$(DATE)
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
# The OpenAPI generator; openapi_test.go reads this version to find $(SWAG) and to check api/.
SWAG_VERSION  := v1.16.6
SWAG          := $(BIN)/swag-$(SWAG_VERSION)
DOCS_OUT     ?= api
COVERAGE_MIN ?= 80

# Where `make run` and `make test` expect Postgres and Redis (the defaults of .env.example).
PGHOST_ADDR  ?= 127.0.0.1:5432
REDIS_ADDR   ?= 127.0.0.1:6379

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  %-16s %s\n",$$1,$$2}'

.PHONY: deps
deps: ## Make sure Postgres and Redis answer; start them with docker compose when possible
	@./deploy/dev/ensure-deps.sh $(PGHOST_ADDR) $(REDIS_ADDR)

.PHONY: run
run: deps ## Run the server (applies migrations at start)
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/gateway serve

.PHONY: demo
demo: deps ## The product end to end: server and two simworkers on a fresh database, walked step by step (DEMO_FLAGS=-keep)
	$(GO) run ./cmd/demo $(DEMO_FLAGS)

.PHONY: dev
dev: deps ## Rebuild and restart the server whenever a Go file changes
	@./deploy/dev/watch.sh

# The worker's WhatsApp credentials: the gateway's database by default (.env.example).
WA_DATABASE_URL ?= postgres://postgres:postgres@$(PGHOST_ADDR)/wagateway?sslmode=disable

.PHONY: worker
worker: deps ## Run the WhatsApp worker against the local gateway (WORKER_FLAGS="-engine sim" for the simulator)
	WA_DATABASE_URL="$(WA_DATABASE_URL)" $(GO) run -ldflags "$(LDFLAGS)" ./cmd/worker $(WORKER_FLAGS)

.PHONY: build
build: ## Build the binaries into bin/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/...

.PHONY: test
test: deps vet lint $(SWAG) ## Run every test (race detector, coverage floor) against real Postgres and Redis
	$(GO) test -race -count=1 -timeout 8m -coverpkg=./internal/... -coverprofile=coverage.out ./...
	@./deploy/dev/coverage-floor.sh coverage.out $(COVERAGE_MIN)

.PHONY: test-chaos
test-chaos: ## Fault suite (~16 min on 2 CPUs): replicas, worker, Redis, Postgres and server faults, 10-min soak; writes docs/reliability/REPORT.md
	$(GO) test -tags chaos -count=1 -v -timeout 60m ./internal/chaos/ -args -chaos.report=$(CURDIR)/docs/reliability/REPORT.md

.PHONY: test-chaos-short
test-chaos-short: ## The fault suite's short form (~4-5 min, run by CI): the same faults, shorter, the same tables printed
	$(GO) test -tags chaos -count=1 -v -short -timeout 20m ./internal/chaos/

# How long `make fuzz` runs each fuzz target.
FUZZTIME     ?= 10s

.PHONY: fuzz
fuzz: deps ## Run every fuzz target (go test -list '^Fuzz') for FUZZTIME each (default 10s)
	@GO=$(GO) FUZZTIME=$(FUZZTIME) ./deploy/dev/fuzz.sh

.PHONY: test-coverage
test-coverage: ## Run the tests and open an HTML coverage report (coverage.html)
	$(GO) test -race -count=1 -coverpkg=./internal/... -coverprofile=coverage.out ./...
	$(GO) tool cover -html=coverage.out -o coverage.html
	@$(GO) tool cover -func=coverage.out | tail -1

.PHONY: vet
vet: ## go vet
	$(GO) vet ./...

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	@mv $(BIN)/golangci-lint $(GOLANGCI_LINT)

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint (installed into bin/ on first use)
	$(GOLANGCI_LINT) run ./...

.PHONY: fmt
fmt: $(GOLANGCI_LINT) ## Format the code
	$(GOLANGCI_LINT) fmt ./...

$(SWAG):
	@mkdir -p $(BIN)
	GOBIN=$(BIN) $(GO) install github.com/swaggo/swag/cmd/swag@$(SWAG_VERSION)
	@mv $(BIN)/swag $(SWAG)

.PHONY: docs
docs: $(SWAG) ## Regenerate the OpenAPI document in api/ from the handlers' annotations (swag)
	$(SWAG) init --quiet --generalInfo internal/httpapi/docs.go --dir . --output $(DOCS_OUT) \
		--outputTypes json,yaml --parseInternal --overridesFile api/swag.overrides

.PHONY: db-migrate
db-migrate: ## Apply pending migrations
	$(GO) run ./cmd/gateway migrate up

.PHONY: db-status
db-status: ## Show which migrations are applied
	$(GO) run ./cmd/gateway migrate status

.PHONY: db-seed
db-seed: ## Create the administrator (and a demo user in development)
	$(GO) run ./cmd/gateway seed

.PHONY: docker
docker: ## Build the Docker image
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg DATE=$(DATE) -t wagateway/gateway:$(VERSION) .

.PHONY: clean
clean: ## Remove build and coverage output
	rm -rf $(BIN) coverage.out coverage.html

.PHONY: bench
bench: deps ## Benchmark the real server against local Postgres and Redis (~4 min); writes docs/bench/REPORT.md and report.json
	$(GO) run ./cmd/bench $(BENCH_FLAGS)

.PHONY: bench-quick
bench-quick: deps ## Every benchmark scenario briefly (~1 min); fails only on errors, report in $TMPDIR
	$(GO) run ./cmd/bench -quick $(BENCH_FLAGS)
