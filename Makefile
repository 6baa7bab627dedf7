# btext: see README.md. Two commands do all set-up on a fresh machine:
#   make demo   builds btext, serves testdata/demo.torrent on 127.0.0.1, handshakes with it and fetches its metadata
#   make test   vet, unit/fuzz-seed/end-to-end tests with -race, and interop with real peers

GO        ?= go
BIN       := bin/btext
FUZZTIME  ?= 30s
# BTEXT_INTEROP: "" = run interop tests when the peers can be installed, else
# skip loudly; "require" = fail when they cannot (CI); "skip" = do not try.
BTEXT_INTEROP ?=

FUZZ_TARGETS := \
	./internal/bencode:FuzzDecode \
	./internal/peer:FuzzReadFrame \
	./internal/peer:FuzzHandshake \
	./internal/extensions:FuzzParse \
	./internal/extensions:FuzzDontHave \
	./internal/metadata:FuzzUTMessage \
	./internal/metadata:FuzzLTMessage \
	./internal/metainfo:FuzzParseInfo \
	./internal/metadata:FuzzScheduler \
	./internal/tracker:FuzzHTTPReply \
	./internal/tracker:FuzzUDPReply \
	./internal/dht:FuzzParseMessage

PREFIX    ?= /usr/local
MANDIR    ?= $(PREFIX)/share/man

.PHONY: all build demo test unit interop fuzz fuzz-short vet bench bench-go bench-quick bench-serve bench-discovery clean man install

all: build

# CGO_ENABLED=0: a static binary starts about 2 ms sooner than one that
# the dynamic loader must link against libc first (BENCHMARKS.md, "Start-up"),
# and btext needs nothing from cgo (Go's own DNS resolver is used).
build:
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o $(BIN) ./cmd/btext

demo: build
	scripts/demo.sh $(BIN)

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l cmd internal); if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

unit:
	$(GO) test -race -count=1 ./...

test: vet
	@scripts/interop-env.sh "$(BTEXT_INTEROP)" > .interop-env
	@. ./.interop-env; rm -f .interop-env; \
	  echo "go test -race ./... (BTEXT_INTEROP=$$BTEXT_INTEROP)"; \
	  BTEXT_INTEROP=$$BTEXT_INTEROP $(GO) run ./scripts/testprogress -race -count=1 ./...

interop: build
	scripts/install-peers.sh
	scripts/install-trackers.sh
	scripts/install-dht.sh
	BTEXT_INTEROP=require $(GO) test -count=1 -run Interop -v ./cmd/btext ./internal/tracker ./internal/dht

fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

# A count, not a duration: see .ci/run (golang/go#75804).
fuzz-short:
	$(MAKE) fuzz FUZZTIME=30000x

# bench: the Go micro benchmarks, then scripts/bench.sh (real seeders on
# 127.0.0.1, btext vs libtorrent's fetcher vs aria2c; about 15 minutes;
# results and chart in bench/out). bench-quick: a try-out of the latter.
bench: bench-go
	scripts/bench.sh

bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

bench-quick:
	scripts/bench.sh --quick

bench-serve:
	scripts/bench-serve.sh

# A bare magnet through the DHT alone and a tracker alone: btext, libtorrent
# and aria2c side by side (docs/bench-discovery.md).
bench-discovery:
	scripts/bench-discovery.sh $(BENCH_DISCOVERY_FLAGS)

# man/man1/btext.1, btext-fetch-metadata.1, ...: from the command tree.
man: build
	$(BIN) gen-man man/man1

install: build man
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/btext
	install -m 0644 man/man1/*.1 $(DESTDIR)$(MANDIR)/man1/

clean:
	rm -rf bin man
