# caskade — the two commands on a fresh machine:
#   make run    the embedded default: a single-node server on 127.0.0.1:7070
#               storing in ./caskade-data
#   make test   go vet and the race-enabled test suite (what CI runs)

GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
BENCH     ?= .

# Pinned code generators of `make proto`. buf compiles the .proto files
# itself (no protoc needed) and runs the two plugins, which go install puts
# into ./bin (no root needed).
BUF_VERSION                ?= v1.75.0
PROTOC_GEN_GO_VERSION      ?= v1.36.12
PROTOC_GEN_GO_GRPC_VERSION ?= v1.6.2
BIN                        := $(CURDIR)/bin

.PHONY: all build run demo test vet fuzz bench bench-rpc bench-compare bench-compare-quick proto proto-tools clean
.PHONY: image compose-test helm-lint

all: build

build:
	$(GO) build -o bin/caskade ./cmd/caskade

# The main job on its embedded default: one node serving gRPC on
# 127.0.0.1:7070 with its store in ./caskade-data. Stop it with Ctrl-C.
run:
	$(GO) run ./cmd/caskade serve

# Without a server: writes, reads, scans, produces, consumes and reopens a
# store in ./caskade-data, and reports timings.
demo:
	$(GO) run ./cmd/caskade local demo

# Regenerate api/v1 from api/v1/*.proto (the generated code is committed).
proto: proto-tools
	PATH="$(BIN):$$PATH" $(GO) run github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION) generate

proto-tools:
	GOBIN=$(BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	GOBIN=$(BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

vet:
	$(GO) vet $(PKGS)

test: vet
	$(GO) test -race -count=1 $(PKGS)

# Crash points and deliberate bugs (internal/failpoint) exist only under
# the failpoints build tag: vet the tagged files, run the packages that
# hold crash points with them compiled in (recovery tests kill a child
# process at each point), and the agent's tests of the bugs. Not part of
# `make test`, which builds without the tag.
.PHONY: test-failpoints
test-failpoints:
	$(GO) vet -tags failpoints $(PKGS)
	$(GO) test -race -count=1 -tags failpoints ./internal/failpoint/... ./replication/ ./engine/...
	$(GO) test -race -count=1 -tags failpoints -run '^TestBug_' ./agent/

# A short run of every fuzz target (go test runs one target at a time).
# FUZZTIME may be a duration (10s) or a count (50000x); a count cannot hit
# go1.26's spurious "context deadline exceeded" at the end of a timed run.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$t ($(FUZZTIME))"; \
	    $(GO) test -run='^$$' -fuzz="^$$t$$" -fuzztime=$(FUZZTIME) $$pkg; \
	  done; \
	done

# Engine, keydir and segment benchmarks; compare runs with benchstat.
bench:
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem -benchtime=$(BENCHTIME) ./engine/... ./keydir/ ./compaction/ ./replication/

# The gRPC server over loopback: durable puts, gets, streamed produce.
bench-rpc:
	$(GO) test -run='^$$' -bench='RPC' -benchtime=$(BENCHTIME) ./rpc/

# caskade beside bbolt, pebble and badger, interleaved, as ratios (its own
# module, so the main module does not depend on them).
bench-compare:
	cd bench/compare && $(GO) run .

bench-compare-quick:
	cd bench/compare && $(GO) run . -quick

# Containers (deploy/): `make image` builds a static binary on the host and
# the FROM scratch image $(IMAGE) from it (no base image is pulled);
# deploy/Dockerfile is the multi-stage build for machines with a registry.
# `make compose-test` runs a 3-node mutual-TLS cluster with docker compose,
# kills its leader and checks every acknowledged write (skips without
# Docker). `make helm-lint` lints and renders the Helm chart with a pinned
# helm built into ./bin. None of them is part of `make test`.
IMAGE        ?= caskade:dev
HELM_VERSION ?= v3.19.0
IMAGE_CTX    := bin/image

image:
	rm -rf $(IMAGE_CTX)
	mkdir -p $(IMAGE_CTX)/root/usr/local/bin $(IMAGE_CTX)/root/tmp $(IMAGE_CTX)/owned/data $(IMAGE_CTX)/owned/certs
	chmod 1777 $(IMAGE_CTX)/root/tmp
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(IMAGE_CTX)/root/usr/local/bin/caskade ./cmd/caskade
	docker build -q -f deploy/Dockerfile.scratch -t $(IMAGE) $(IMAGE_CTX)
	docker image prune -f --filter label=org.opencontainers.image.title=caskade >/dev/null

compose-test:
	IMAGE=$(IMAGE) MAKE="$(MAKE)" deploy/compose-test.sh

# helm lint, then what the chart renders (defaults, and 5 replicas with
# gossip encryption and the example policy) decoded strictly into the
# Kubernetes API types (deploy/helm/kubecheck), then values it must refuse.
HELM      := $(BIN)/helm
CHART     := deploy/helm/caskade
KUBECHECK := cd deploy/helm/kubecheck && $(GO) run .

helm-lint:
	GOBIN=$(BIN) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	$(HELM) lint --strict $(CHART)
	$(HELM) template caskade $(CHART) --namespace caskade | ($(KUBECHECK))
	$(HELM) template caskade $(CHART) --namespace caskade --set replicas=5 \
	  --set serf.gossipKey.secretName=caskade-gossip \
	  --set-file auth.model=rpc/policy/model.conf --set-file auth.policy=rpc/policy/policy.csv | ($(KUBECHECK))
	@for bad in replicas=0 replicas=2,bootstrapExpect=3 log.level=loud tls.secretName= replica=3; do \
	  if $(HELM) template caskade $(CHART) --set "$$bad" >/dev/null 2>&1; then \
	    echo "helm-lint: the chart accepted the bad value $$bad"; exit 1; \
	  fi; \
	done; echo "helm-lint: bad values refused"
	cd deploy/helm/kubecheck && $(GO) vet . && $(GO) test -count=1 .

# The robustness suite (tests/robustness, build tag robustness): three
# `caskade serve` processes on loopback with mutual TLS, concurrent
# clients, seeded faults (kill -9, pause, isolation, cluster restart,
# member removal, failpoint crashes), the history checked for
# linearizability and every acknowledged write checked on every node;
# then the two deliberate bugs the checker must catch. One line per run
# and a table at the end; a failing run keeps its node logs, porcupine's
# HTML and the history under RESULTS (default: a new folder in the
# temporary directory). Linux only (127.0.0.11-13). Not part of `make
# test`. robustness-smoke is the short seeded run for CI.
SEEDS              ?= 20
SEED               ?= 1
DURATION           ?= 60s
CLIENTS            ?= 8
FAULTS             ?= all
RATE               ?= 0
RESULTS            ?=
ROBUSTNESS_TIMEOUT ?= 3h

.PHONY: robustness robustness-smoke
robustness:
	$(GO) test -tags robustness -count=1 -v -timeout $(ROBUSTNESS_TIMEOUT) ./tests/robustness/ -run 'TestRobustness' \
	  -args -seeds $(SEEDS) -seed $(SEED) -duration $(DURATION) -clients $(CLIENTS) -faults $(FAULTS) -rate $(RATE) $(if $(RESULTS),-results $(RESULTS))

robustness-smoke:
	$(MAKE) robustness SEEDS=2 DURATION=15s ROBUSTNESS_TIMEOUT=10m

clean:
	rm -rf bin caskade-data
