# Sluice: the two commands a newcomer types are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/sluice

.PHONY: all build run test lint vet fmt-check unit bench-smoke bench docs deps

all: build

## deps: install what builds and tests need (idempotent; root on Debian)
deps:
	./deploy/dev-services.sh

## build: the sluice binary in bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sluice

## run: build and start `sluice serve` with embedded defaults and example flows
run: build
	./$(BIN) serve

## test: everything CI checks
test: deps lint bench-smoke unit

## lint: gofmt and go vet
lint: fmt-check vet

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## unit: all tests with the race detector (fuzz seed corpora included)
unit:
	$(GO) test -race -count=1 -timeout 20m ./...

## bench-smoke: every benchmark once, so that none rots
bench-smoke:
	$(GO) test -run '^$$' -bench . -benchtime=1x -count=1 -timeout 10m ./...

## bench: full benchmarks, with peers measured in the same run
bench:
	SLUICE_BENCH_FULL=1 $(GO) test -run '^$$' -bench . -benchmem -count=1 -timeout 60m ./...

## docs: regenerate the node reference from the node specs
docs:
	$(GO) run ./cmd/docgen > docs/nodes.md
