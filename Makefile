# airlock: make demo runs a round trip in a temporary folder; make portal
# serves the web portal on a seeded demo desk; make test runs every check CI
# runs. The machine this targets has 2 cores.

GO        ?= go
BIN       := bin/airlock
FUZZTIME  ?= 30s
FUZZPAR   ?= 2
# Every fuzz target, as package:Name.
FUZZ_TARGETS := \
	./formats/wire:FuzzUnmarshal \
	./formats/wire:FuzzUnmarshalBulk \
	./formats/groups:FuzzDecode \
	./formats/armor:FuzzDecode \
	./formats/seal:FuzzDecrypt \
	./codes:FuzzDecode \
	./codes:FuzzParseUnverified \
	./codes:FuzzOpenAuthorization \
	./codes:FuzzOpenInstanceCodes \
	./codes:FuzzReadTrustFile \
	./codes:FuzzOpenActivationRequest \
	./codes:FuzzOpenActivation \
	./codes:FuzzParseUnverifiedFleet \
	./codes:FuzzOpenManifest \
	./codes:FuzzOpenSyncRequest \
	./codes:FuzzOpenSyncAnswer \
	./codes/api:FuzzParseHeaders \
	./authority/service:FuzzServiceRequest \
	./authority:FuzzConnectedRequests \
	./instance:FuzzDecodeState \
	./instance:FuzzDecodeAnswer

.PHONY: all build test test-deps lint bench fuzz vectors check-vectors demo portal man clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/airlock

## test: formatting, vet, the whole suite under the race detector, and the
## vectors' reproducibility (TestVectorsAreReproducible is part of the suite),
## then the authority package's tests again with the ledger on PostgreSQL
## (the store's own tests run on both in the first pass); that pass runs
## every write transaction twice, the first rolled back, as PostgreSQL's
## retries would (store.Options.Rehearse). The race
## detector's default one-second pause at exit is skipped: the CLI tests
## start the binary hundreds of times. -timeout=20m: the command's package
## takes 5 minutes alone on 2 cores, and go test's default of 10 would
## fail it on a loaded machine. As root (CI), where test-deps
## installs PostgreSQL and Chromium, their tests may not skip
## (AIRLOCK_REQUIRE_POSTGRES=1, AIRLOCK_REQUIRE_BROWSER=1). The browser
## test's screenshots go to bin/artifacts/browser (AIRLOCK_ARTIFACTS=DIR
## puts them in DIR/browser).
PG_REQUIRE = $$(if [ "$$(id -u)" = 0 ]; then echo AIRLOCK_REQUIRE_POSTGRES=1; fi)
BROWSER_REQUIRE = $$(if [ "$$(id -u)" = 0 ]; then echo AIRLOCK_REQUIRE_BROWSER=1; fi)

test: lint test-deps
	GORACE=atexit_sleep_ms=0 env $(PG_REQUIRE) $(BROWSER_REQUIRE) $(GO) test -race -count=1 -timeout=20m ./...
	GORACE=atexit_sleep_ms=0 env $(PG_REQUIRE) AIRLOCK_TEST_LEDGER=postgres $(GO) test -race -count=1 -timeout=20m ./authority

## test-deps: the real-OpenSSH transport test needs Debian's openssh-server,
## the proxy tests of connected mode Debian's tinyproxy, the PostgreSQL
## ledger's tests Debian's postgresql (they run a throwaway server of their
## own: initdb and postgres, as the postgres account under root), the web
## portal's browser test Debian's chromium, node and npm (npm ci installs
## the locked playwright-core of cmd/airlock/testdata/browser into the
## user's cache, never into the repository). As root (CI) they are
## installed when missing; otherwise those tests say they skipped.
## AIRLOCK_REQUIRE_SSHD=1 (AIRLOCK_REQUIRE_TINYPROXY=1,
## AIRLOCK_REQUIRE_POSTGRES=1, AIRLOCK_REQUIRE_BROWSER=1) turns the skip
## into a failure.
test-deps:
	@if [ ! -x /usr/sbin/sshd ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing openssh-server for the SFTP tests"; \
		(apt-get install -y -q -o DPkg::Lock::Timeout=300 openssh-server >/dev/null 2>&1 || \
		 (apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null && apt-get install -y -q -o DPkg::Lock::Timeout=300 openssh-server >/dev/null)) || exit 1; \
	fi
	@if ! command -v tinyproxy >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing tinyproxy for the proxy tests"; \
		(apt-get install -y -q -o DPkg::Lock::Timeout=300 tinyproxy >/dev/null 2>&1 || \
		 (apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null && apt-get install -y -q -o DPkg::Lock::Timeout=300 tinyproxy >/dev/null)) || exit 1; \
	fi
	@if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && \
	    [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing postgresql for the PostgreSQL ledger tests"; \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 postgresql >/dev/null 2>&1 || \
		 (apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 postgresql >/dev/null)) || exit 1; \
	fi
	@pkgs=; [ -x /usr/bin/chromium ] || pkgs=chromium; \
	command -v node >/dev/null || pkgs="$$pkgs nodejs"; command -v npm >/dev/null || pkgs="$$pkgs npm"; \
	if [ -n "$$pkgs" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$(printf ' %s' $$pkgs) for the web portal's browser test"; \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 $$pkgs >/dev/null 2>&1 || \
		 (apt-get update -q -o DPkg::Lock::Timeout=300 >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=300 $$pkgs >/dev/null)) || exit 1; \
	fi

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## bench: code sizes against their targets, then ns/op and allocs/op,
## then renewals per second served by authority serve (HTTPS, the ledger
## on disk) to cmd/airlock/loadgen in another process, for 10 s.
bench: build
	$(GO) run ./testvectors/sizes
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	$(GO) run ./cmd/airlock/loadgen -airlock $(BIN) -duration 10s

## fuzz: each target for FUZZTIME (make fuzz FUZZTIME=2m).
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$pkg $$name ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -parallel=$(FUZZPAR) $$pkg || exit 1; \
	done

## vectors: regenerate testvectors/ from the generator; review the diff.
vectors:
	$(GO) test -count=1 -run='^TestVectorsAreReproducible$$' ./testvectors -args -update

check-vectors:
	$(GO) test -count=1 -run='^TestVectorsAreReproducible$$|^TestEveryVectorMeetsItsExpectation$$' ./testvectors

## demo: build, then run the round trip in a temporary folder.
demo: build
	@sh ./cmd/airlock/demo.sh $(BIN)

## portal: build, seed a demo desk (organizations acme and globex, three
## people with printed demo passwords, an instance's request code in a
## file) and serve the web portal on https://127.0.0.1:8443/ until Ctrl-C.
## PORTAL_LISTEN=ADDR listens elsewhere; PORTAL_DIR=DIR keeps the desk in
## DIR (reused when seeded) instead of a temporary folder.
portal: build
	@sh ./cmd/airlock/portal.sh $(BIN)

man:
	$(GO) run ./cmd/airlock __man docs/man

clean:
	rm -rf bin
