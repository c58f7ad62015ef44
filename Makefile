# Sluice: the two commands a newcomer types are `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN := bin/sluice

.PHONY: all build run test lint vet fmt-check unit bench-smoke bench docs deps designer designer-test e2e

# The designer (TypeScript, built by npm into designer/dist, embedded in the
# binary). Rebuilt only when its sources change.
DESIGNER_SRC := $(shell find designer/src designer/index.html designer/package.json designer/package-lock.json designer/vite.config.ts designer/tsconfig.json -type f 2>/dev/null)
NPM := npm --prefix designer --no-audit --no-fund

all: build

## deps: install what builds and tests need (idempotent; root on Debian)
deps:
	./deploy/dev-services.sh

## designer: install the designer's npm packages and build it
designer: designer/dist/index.html

designer/node_modules/.installed: designer/package.json designer/package-lock.json
	$(NPM) ci
	touch $@

designer/dist/index.html: designer/node_modules/.installed $(DESIGNER_SRC)
	$(NPM) run build

## build: the sluice binary in bin/, with the designer inside
build: designer
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sluice

## run: build and start `sluice serve` with embedded defaults and example flows
run: build
	./$(BIN) serve

## test: everything CI checks
test: deps lint designer-test bench-smoke unit e2e

## lint: gofmt and go vet
lint: fmt-check vet

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## designer-test: type checks and unit tests of the designer
designer-test: designer/node_modules/.installed
	$(NPM) run typecheck
	$(NPM) test

## e2e: the designer end to end: a real sluice serve and Debian's Chromium
e2e: build
	SLUICE_BIN=$(CURDIR)/$(BIN) $(NPM) run e2e

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
