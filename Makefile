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

clean:
	rm -rf bin caskade-data
