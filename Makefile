# wasmtail — build, test, benchmark.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
PKGS     := ./...

.PHONY: all build test test-short bench lint fmt quickstart clean image testapp-image e2e-pod churn soak

# Container images (deploy/): built with buildah from scratch, nothing pulled.
# The manifests in deploy/kubernetes name these two images.
IMAGE         ?= localhost/wasmtail:dev
TESTAPP_IMAGE ?= localhost/wasmtail-testapp:dev
STORAGE       ?= vfs
BUILDAH       ?= buildah --storage-driver $(STORAGE)
PODMAN        ?= podman --storage-driver $(STORAGE) --runtime runc

all: build

## build: the agent binary at bin/wasmtail (static, no cgo)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/wasmtail ./agent/cmd/wasmtail

## test: vet, gofmt check, every test with the race detector (what CI runs)
test: lint
	$(GO) test -race -count=1 -timeout 25m $(PKGS)

## churn: the churn harness alone (agent/e2e/churn_test.go, TestChurn): 60 s on each output,
## flusher_file and flusher_sls. make test runs it too (at 1 MiB/s under the race detector).
churn:
	$(GO) test -count=1 -timeout 30m -run '^TestChurn$$' -v ./agent/e2e/

## soak: the churn harness for SOAK_SECS (default 30 minutes) on each output, side by side.
##   SOAK_SECS     how long the files churn and the agent is killed, per output (default 1800)
##   SOAK_SEED     the seed of every random decision, to replay a run (default: random, printed)
##   SOAK_KBPS     KiB/s written, all files together (default 2048)
##   SOAK_STREAMS  files written at the same time in the busy folder (default 50)
##   SOAK_KEEP     rotated generations kept per file; older ones are deleted, as logrotate does,
##                 and their lines no longer count as owed (default 50, about 2.5 minutes of
##                 rotations; 0 keeps all: ~4 GB of logs and ~30,000 files per 30 minutes)
##   SOAK_RUN      which outputs (default TestChurn; TestChurn/file or TestChurn/sls for one)
## Needs about 10 GB of disk under $$TMPDIR, and SOAK_SECS plus a few minutes.
SOAK_SECS    ?= 1800
SOAK_SEED    ?=
SOAK_KBPS    ?= 2048
SOAK_STREAMS ?= 50
SOAK_KEEP    ?= 50
SOAK_RUN     ?= TestChurn
soak:
	E2E_CHURN_SECS=$(SOAK_SECS) E2E_CHURN_SEED=$(SOAK_SEED) E2E_CHURN_KBPS=$(SOAK_KBPS) \
		E2E_CHURN_STREAMS=$(SOAK_STREAMS) E2E_CHURN_KEEP=$(SOAK_KEEP) \
		$(GO) test -count=1 -timeout $$(( $(SOAK_SECS) + 1800 ))s -run '^$(subst /,$$/,$(SOAK_RUN))$$' -v ./agent/e2e/

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
	$(GO) run ./bench -bin bin/wasmtail -line 512 -mib 1024 -rate 10 -secs 60
	$(GO) run ./bench -bin bin/wasmtail -mib 512 -rate 0
	$(GO) test -run '^$$' -bench 'RestartFirstByte|DuplicatesPerKill' -benchtime 30x -count 3 -timeout 30m ./agent/e2e/

## quickstart: the README quick start, end to end, on this machine
quickstart: build
	bash examples/quickstart/run.sh

## image: the agent image $(IMAGE) (deploy/Containerfile: static binary on scratch, user 65532)
image: build
	rm -rf bin/image
	mkdir -p bin/image/rootfs/usr/bin bin/image/rootfs/etc/wasmtail/pipelines \
		bin/image/rootfs/etc/wasmtail/modules bin/image/rootfs/usr/lib/wasmtail/modules bin/image/data
	cp bin/wasmtail bin/image/rootfs/usr/bin/wasmtail
	printf 'root:x:0:0:root:/:/sbin/nologin\nwasmtail:x:65532:65532:wasmtail:/var/lib/wasmtail:/sbin/nologin\n' > bin/image/rootfs/etc/passwd
	printf 'root:x:0:\nwasmtail:x:65532:\n' > bin/image/rootfs/etc/group
	# The built-in parsers as Wasm modules, once (the modules folder itself is
	# where a ConfigMap gets mounted): processor_wasm Module: /usr/lib/wasmtail/modules/<name>.wasm
	for m in $$(ls parsers/*/*.wasm 2>/dev/null); do cp $$m bin/image/rootfs/usr/lib/wasmtail/modules/; done
	$(BUILDAH) bud --quiet -f deploy/Containerfile -t $(IMAGE) bin/image
	@$(BUILDAH) images --format '{{.Name}}:{{.Tag}} {{.Size}}' $(IMAGE)

## testapp-image: the stand-in application of the examples, $(TESTAPP_IMAGE)
testapp-image:
	rm -rf bin/testapp-image && mkdir -p bin/testapp-image
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o bin/testapp-image/testapp ./deploy/testapp
	$(BUILDAH) bud --quiet -f deploy/testapp/Containerfile -t $(TESTAPP_IMAGE) bin/testapp-image

## e2e-pod: both images, then the sidecar Pod of deploy/podman run by podman kube play (needs root, podman, buildah, runc)
e2e-pod: image testapp-image
	WASMTAIL_E2E_POD=1 WASMTAIL_IMAGE=$(IMAGE) WASMTAIL_TESTAPP_IMAGE=$(TESTAPP_IMAGE) PODMAN='$(PODMAN)' \
		$(GO) test -count=1 -timeout 10m -run 'TestPod' -v ./agent/e2e/

clean:
	rm -rf bin

# Wasm modules, examples and fuzzing (issue 3)
-include Makefile.wasm

# Built-in parsers as Wasm modules (issue 4)
-include Makefile.parsers
