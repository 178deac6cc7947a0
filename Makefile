# wasmtail — build, test, benchmark.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...

.PHONY: all build test test-short bench lint fmt quickstart clean

all: build

## build: the agent binary at bin/wasmtail (static, no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/wasmtail ./agent/cmd/wasmtail

## test: vet, gofmt check, every test with the race detector (what CI runs)
test: lint
	$(GO) test -race -count=1 -timeout 25m $(PKGS)

## test-short: unit tests only, no end-to-end runs
test-short:
	$(GO) test -short -count=1 $(PKGS)

## lint: go vet and gofmt
lint:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: generates its own logs and measures the agent (see bench/README.md)
bench: build
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./agent/internal/tail/ ./agent/internal/output/
	$(GO) run ./bench -bin bin/wasmtail

## quickstart: the README quick start, end to end, on this machine
quickstart: build
	bash examples/quickstart/run.sh

clean:
	rm -rf bin
