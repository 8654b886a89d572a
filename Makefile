# acmegate — the two commands a new user needs are `make run` and `make test`.
GO        ?= go
BIN       ?= bin/acmegate
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
# The whole suite, real clients included, is bounded.
TEST_TIMEOUT ?= 15m

.PHONY: run build test test-short lint bench clean

## run: serve ACME on https://127.0.0.1:14000/directory with SQLite and a local CA in ./acmegate-data
run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/acmegate serve

## build: build bin/acmegate
build:
	CGO_ENABLED=0 $(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/acmegate

## test: every test, including the certbot and lego runs (needs the Debian packages certbot and lego)
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

## bench: Go benchmarks
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin
