# Gatehouse. .ci/run is the source of truth for CI; these targets wrap the same
# commands for everyday use.
#
#   make run     serve on the embedded SQLite database (http://localhost:8080/healthz)
#   make test    gofmt check, go vet, and every test (-race on storage and internal/oauth)
#   make build   a static ./gatehouse binary
#   make fuzz    every fuzz target, one after another, FUZZTIME each (default 30s)
#
# PostgreSQL tests use TEST_DATABASE_URL, for example
#   TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' make test
# Without it they are skipped (and fail when CI is set). Pass GOTESTFLAGS=-v for detail.

GO          ?= go
GOTESTFLAGS ?=
TESTTIMEOUT ?= 30m
VERSION     ?= dev

# The race detector runs where concurrency matters most; only over directories that
# exist, so the target works before internal/oauth does.
RACE_DIRS  := $(wildcard storage internal/oauth)
RACE_PKGS   = $(shell $(GO) list $(addprefix ./,$(addsuffix /...,$(RACE_DIRS))))
OTHER_PKGS  = $(filter-out $(RACE_PKGS),$(shell $(GO) list ./...))

.PHONY: all build run test check fmt-check vet test-go js-deps fuzz clean

all: test build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o gatehouse ./cmd/gatehouse

run:
	$(GO) run ./cmd/gatehouse serve

test: check js-deps test-go

# The browser tests load npm packages (oidc-client-ts, axe-core), installed from
# the committed lockfile when missing or older than it (npm ci writes
# node_modules/.package-lock.json).
JS_DIR := cmd/gatehouse/testdata/js
js-deps: $(JS_DIR)/node_modules/.package-lock.json

$(JS_DIR)/node_modules/.package-lock.json: $(JS_DIR)/package-lock.json
	npm ci --prefix $(JS_DIR) --no-audit --no-fund

check: fmt-check vet

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Both runs happen even when the first fails; the target fails if either did.
test-go:
	@status=0; \
	echo "$(GO) test $(GOTESTFLAGS) -race -timeout $(TESTTIMEOUT) <$(RACE_DIRS)>"; \
	$(GO) test $(GOTESTFLAGS) -race -timeout $(TESTTIMEOUT) $(RACE_PKGS) || status=$$?; \
	echo "$(GO) test $(GOTESTFLAGS) -timeout $(TESTTIMEOUT) <every other package>"; \
	$(GO) test $(GOTESTFLAGS) -timeout $(TESTTIMEOUT) $(OTHER_PKGS) || status=$$?; \
	exit $$status

# go test -fuzz takes one target of one package per run, so the targets run one
# after another. Seeds live in each package's testdata/fuzz/<Target>/, and plain
# `go test` replays them; an input that fails is saved there too (commit it with a
# named regular test). One worker by default: FUZZFLAGS=-parallel=4 for more.
# Minimizing a new input is bounded by count: with an unbounded minimization a
# short FUZZTIME can end mid-way, which go test reports as a failure.
# Every target runs even when one fails; the target fails if any did.
FUZZTIME    ?= 30s
FUZZFLAGS   ?= -parallel=1 -fuzzminimizetime=100x
FUZZ_TARGETS = \
	./internal/oauth:FuzzMatchRedirectURI \
	./internal/server:FuzzAuthorizeRequest \
	./internal/server:FuzzTokenRequest \
	./internal/server:FuzzClientAssertion \
	./internal/clientip:FuzzResolve \
	./config:FuzzConfigLoad

fuzz:
	@status=0; \
	for t in $(FUZZ_TARGETS); do \
		pkg="$${t%%:*}"; name="$${t##*:}"; \
		echo "$(GO) test -run='^$$' -fuzz='^$$name\$$' -fuzztime=$(FUZZTIME) $(FUZZFLAGS) $$pkg"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) $(FUZZFLAGS) "$$pkg" || status=1; \
	done; \
	exit $$status

clean:
	rm -f gatehouse
