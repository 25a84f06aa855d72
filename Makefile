# caskade — the two commands on a fresh machine:
#   make run    the embedded default: a local store in ./caskade-data
#   make test   go vet and the race-enabled test suite (what CI runs)

GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
BENCH     ?= .

.PHONY: all build run test vet fuzz bench bench-compare bench-compare-quick clean

all: build

build:
	$(GO) build -o bin/caskade ./cmd/caskade

# The main job on its embedded default: writes, reads, scans, produces,
# consumes and reopens a store in ./caskade-data, and reports timings.
run:
	$(GO) run ./cmd/caskade local demo

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
	$(GO) test -run='^$$' -bench='$(BENCH)' -benchmem -benchtime=$(BENCHTIME) ./engine/... ./keydir/

# caskade beside bbolt, pebble and badger, interleaved, as ratios (its own
# module, so the main module does not depend on them).
bench-compare:
	cd bench/compare && $(GO) run .

bench-compare-quick:
	cd bench/compare && $(GO) run . -quick

clean:
	rm -rf bin caskade-data
