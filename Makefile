# Berth — run `make help` for the targets.
GO       ?= go
export PATH := $(PATH):/usr/local/go/bin
COMMIT   := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
BUILT    := $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS  := -s -w -X github.com/berth-project/berth/internal/version.GitCommit=$(COMMIT) \
            -X github.com/berth-project/berth/internal/version.BuildTime=$(BUILT)
GOBUILD  := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'

.PHONY: build kube test test-unit test-integration test-cri test-cluster bench bench-kube bench-load deps demo docs vet help clean

build: ## Build bin/berth, bin/berth-compose, bin/berthd, bin/berth-monitor, bin/berth-crun, bin/berth-pause, bin/berth-registry and bin/berth-swarm
	$(GOBUILD) -o bin/berthd ./cmd/berthd
	$(GOBUILD) -o bin/berth ./cmd/berth
	$(GOBUILD) -o bin/berth-compose ./cmd/berth-compose
	$(GOBUILD) -o bin/berth-monitor ./cmd/berth-monitor
	$(GOBUILD) -o bin/berth-crun ./cmd/berth-crun
	$(GOBUILD) -o bin/berth-pause ./cmd/berth-pause
	$(GOBUILD) -o bin/berth-registry ./cmd/berth-registry
	$(GOBUILD) -o bin/berth-swarm ./cmd/berth-swarm

kube: ## Build the Kubernetes components `berth cluster up` runs into /var/cache/berth-kube (about 10 min cold, then a no-op)
	./scripts/kube-build.sh

deps: ## Install what Berth needs from Debian (root)
	./scripts/install-deps.sh

test: build test-unit test-integration ## Unit and integration tests (root)

test-unit: ## Unit tests (package tests beside the code)
	$(GO) test -count=1 ./internal/... ./cmd/...

test-integration: build ## Integration tests: real berthd driven by berth and the docker CLI
	$(GO) test -p 1 -count=1 -timeout 45m ./tests/...

test-cluster: build ## The Kubernetes cluster tests alone (skipped without `make kube`)
	$(GO) test -count=1 -timeout 30m -v ./tests/cluster/

test-cri: build ## CRI tests: berthd's Kubernetes runtime socket through gRPC, crictl and critest (cri-tools from make kube)
	$(GO) test -count=1 -timeout 30m -v ./tests/cri/

fuzz: ## Run every fuzz target for FUZZTIME each (default 30s; CI runs 10s)
	./scripts/fuzz.sh

bench: build ## Benchmarks side by side with dockerd when installed (and the bench-kube section)
	$(GO) run ./bench
	$(GO) run ./bench/load

bench-load: build ## The load benchmark alone: 1000 containers at once (LOAD_N) on berthd and dockerd
	$(GO) run ./bench/load -n $(or $(LOAD_N),1000)

bench-kube: build ## The Kubernetes node alone: a cluster on berthd's CRI beside one on Debian's containerd (skipped without make kube)
	$(GO) run ./bench -sections kube

demo: build ## Start berthd and run a container (see README)
	./scripts/demo.sh

docs: ## Regenerate the CLI reference
	$(GO) run ./cmd/berth-compose docs docs/cli-reference

vet: ## gofmt and go vet
	@test -z "$$(gofmt -l cmd internal tests bench 2>/dev/null)" || (gofmt -l cmd internal tests bench; exit 1)
	$(GO) vet ./...

clean: ## Remove build output
	rm -rf bin

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'
