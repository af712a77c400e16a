# The README's commands. `make test` is what CI runs.
GO ?= go

.PHONY: test check vet fmt race bench fuzz demo

test: check race

check: fmt vet

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# interop/ is a module of its own (test-only peers: nclient4, miekg/dns); ./...
# stops at its go.mod, so it is run on its own.
vet:
	$(GO) vet ./...
	cd interop && $(GO) vet ./...

race:
	$(GO) test -race -count=1 -timeout 20m ./...
	cd interop && $(GO) test -race -count=1 -timeout 10m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Short fuzzing pass over every parser (FUZZTIME=60s for a longer one).
FUZZTIME ?= 10s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./frame/
	$(GO) test -run '^$$' -fuzz '^FuzzParseVLANs$$' -fuzztime $(FUZZTIME) ./frame/
	$(GO) test -run '^$$' -fuzz '^FuzzPutUDP$$' -fuzztime $(FUZZTIME) ./frame/
	$(GO) test -run '^$$' -fuzz '^FuzzParseARP$$' -fuzztime $(FUZZTIME) ./frame/
	$(GO) test -run '^$$' -fuzz '^FuzzParseND$$' -fuzztime $(FUZZTIME) ./frame/
	$(GO) test -run '^$$' -fuzz '^FuzzParseEcho$$' -fuzztime $(FUZZTIME) ./frame/
	$(GO) test -run '^$$' -fuzz '^FuzzEchoReplyOptions$$' -fuzztime $(FUZZTIME) ./frame/
	$(GO) test -run '^$$' -fuzz '^FuzzParseMLDQuery$$' -fuzztime $(FUZZTIME) ./frame/
	$(GO) test -run '^$$' -fuzz '^FuzzOpenOffline$$' -fuzztime $(FUZZTIME) ./pcapio/
	$(GO) test -run '^$$' -fuzz '^FuzzRingSlots$$' -fuzztime $(FUZZTIME) ./afpacket/
	$(GO) test -run '^$$' -fuzz '^FuzzHostInput$$' -fuzztime $(FUZZTIME) ./host/
	$(GO) test -run '^$$' -fuzz '^FuzzReassemble$$' -fuzztime $(FUZZTIME) ./relay/
	$(GO) test -run '^$$' -fuzz '^FuzzSplitGSO$$' -fuzztime $(FUZZTIME) ./afpacket/

demo:
	$(GO) run ./cmd/etherconn demo
