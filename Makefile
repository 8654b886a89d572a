# acmegate — the two commands a new user needs are `make run` and `make test`.
GO        ?= go
BIN       ?= bin/acmegate
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
# Build date in UTC RFC 3339; SOURCE_DATE_EPOCH pins it for reproducible builds.
DATE      ?= $(shell if [ -n "$(SOURCE_DATE_EPOCH)" ]; then date -u -d "@$(SOURCE_DATE_EPOCH)" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$(SOURCE_DATE_EPOCH)" +%Y-%m-%dT%H:%M:%SZ; else date -u +%Y-%m-%dT%H:%M:%SZ; fi)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
# Release binaries: static (CGO_ENABLED=0), no local paths (-trimpath), no
# symbol tables (-s -w). The Dockerfile and cmd/acmegate/deploy_test.go use
# the same flags.
RELEASE_LDFLAGS := -s -w $(LDFLAGS)
PLATFORMS ?= linux/amd64 linux/arm64
DIST      ?= dist
# The whole suite, real clients included, is bounded.
TEST_TIMEOUT ?= 15m

.PHONY: run build release test test-short lint bench bench-scale bench-go fuzz soak screenshots clean

## run: serve ACME on https://127.0.0.1:14000/directory with SQLite and a local CA in ./acmegate-data
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/acmegate serve

## build: build bin/acmegate
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/acmegate

## release: static binaries for $(PLATFORMS) in dist/ (acmegate_VERSION_OS_ARCH) and dist/SHA256SUMS
release:
	@mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=$(DIST)/acmegate_$(VERSION)_$${os}_$${arch}; \
		echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(RELEASE_LDFLAGS)" -o $$out ./cmd/acmegate; \
	done
	cd $(DIST) && rm -f SHA256SUMS && sha256sum acmegate_$(VERSION)_* > SHA256SUMS

## test: every test, including the certbot, lego and Caddy runs (needs the Debian packages certbot, lego, caddy and systemd)
test:
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

## test-short: unit tests only
test-short:
	$(GO) test -short -count=1 ./...

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@latest ./...

## bench: the load generator (cmd/acmebench) against acmegate on SQLite and PostgreSQL and against Pebble; table in docs/performance.md
bench:
	scripts/bench.sh

## bench-scale: throughput on an empty database and on one seeded by `acmebench seed` with BENCH_SCALE (default 1000000) orders, authorizations and certificates, SQLite and PostgreSQL, interleaved at c = 32 (see scripts/bench.sh; about 10 GB of disk per store)
bench-scale:
	BENCH_SCALE=$${BENCH_SCALE:-1000000} scripts/bench.sh

## bench-go: Go micro-benchmarks of the hot paths
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Fuzz targets as package:Name. `make test` replays their seed corpora
# (testdata/fuzz) only; `make fuzz` runs each for FUZZTIME, one after the
# other, since go test fuzzes one target per invocation.
FUZZTIME ?= 30s
FUZZ_TARGETS ?= acme:FuzzParseJWS acme:FuzzVerifyJWS acme:FuzzPayload acme:FuzzEAB acme:FuzzProblem \
	acme:FuzzJSONMembers acme:FuzzParseFlattenedDiff acme:FuzzDecodeBase64URLDiff \
	policy:FuzzIdentifier policy:FuzzCSR validation:FuzzCAA validation:FuzzChallengeCert notify:FuzzEmailMessage

## fuzz: run every fuzz target for $(FUZZTIME) (default 30s); a failing input is saved in <package>/testdata/fuzz/<target>/
fuzz:
	@fail=0; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t#*:}; \
		echo "== fuzz ./$$pkg $$name for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg/ || fail=1; \
	done; exit $$fail

## soak: acmegate under acmebench for SOAK_DURATION (default 10m) at SOAK_FRACTION (0.8) of its measured peak, sampling RSS, goroutines, fds and DB connections every 5 s; fails on growth, any failed flow or a stall (SOAK_STORE=postgres for PostgreSQL; issue 7's long run: SOAK_C=128 SOAK_DURATION=10m; see scripts/soak.sh)
soak:
	scripts/soak.sh

## screenshots: dashboard screenshots in docs/screenshots, from demo data in headless Chromium (needs the Debian package chromium)
screenshots:
	$(GO) test -tags screenshots -run TestScreenshots -count=1 ./admin

clean:
	rm -rf bin $(DIST)
