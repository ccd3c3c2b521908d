# rstscope: who reset this TCP connection, and why.
# `make demo` and `make test` do everything on a fresh Debian machine with Go.

GO       ?= go
BIN      := bin/rstscope
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
FUZZTIME ?= 30s
FUZZMINTIME ?= 5s
# make pgo profiles rstscope on this capture (make bench generates it).
PGO_PCAP ?= pcaps/bench/mix-10200000p-280000f-s128-seed1.pcap
# Debian packages: libpcap headers for live capture and BPF; iproute2 and
# iptables for the namespace lab; tshark and tcpdump for cross-checks and
# `make bench`; prometheus (server and promtool) for the metrics tests.
PKGS     := libpcap-dev iproute2 iptables conntrack ethtool tshark tcpdump prometheus

.PHONY: all build deps demo test lab lab-pcaps bench bench-instr pgo soak kernel-bench fuzz vet clean

all: build

# deps installs the missing Debian packages (apt-get; sudo when not root).
deps:
	@missing=""; for p in $(PKGS); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		$(SUDO) apt-get update -qq && \
		echo "wireshark-common wireshark-common/install-setuid boolean false" | $(SUDO) debconf-set-selections && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

build:
	$(GO) build -o $(BIN) .

demo: deps build
	@echo "== $(BIN) -r pcaps/demo.pcap"
	@./$(BIN) -r pcaps/demo.pcap

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# test runs the whole suite. As root with `ip netns` it includes the
# network-namespace lab (real kernel resets captured live by rstscope).
test: deps vet
	$(GO) test -count=1 ./...

# lab runs only the namespace lab tests (needs root).
lab: deps
	$(SUDO) $(GO) test -count=1 -v -run 'TestLab' ./pcaps/lab/

# lab-pcaps regenerates the lab fixtures in pcaps/lab/ (needs root).
lab-pcaps: deps
	$(SUDO) env RSTSCOPE_LAB_SAVE=1 $(GO) test -count=1 -run 'TestLab' ./pcaps/lab/

bench: deps build
	./bench/run.sh

# bench-instr counts instructions per packet (valgrind's cachegrind): the
# floor, one table and two shards on a 1 M-packet mix; noise-free, so that
# two builds can be compared on a busy machine; and the flow table's
# simulated cache misses a packet (callgrind, see bench/instr.sh).
bench-instr: build
	./bench/instr.sh

# pgo rewrites default.pgo, the CPU profile `go build` optimises the
# binary with (profile-guided inlining; -pgo=auto reads default.pgo in the
# main package's directory): five runs on the bench capture, built without
# the old profile (two shards three times, one table, text output),
# merged. On the bench file it took two shards from 1.67 s to 1.59 s
# (medians of five alternated rounds; CPU 3.05 -> 2.91 s). Rerun it when
# the hot path changes a lot (make bench first, for the capture).
pgo:
	$(GO) build -pgo=off -o $(BIN).nopgo .
	set -e; for a in 1 2 3 "4 --shards 1" "5 --format text"; do set -- $$a; n=$$1; shift; \
		RSTSCOPE_CPUPROFILE=$(BIN).pgo.$$n ./$(BIN).nopgo -r $(PGO_PCAP) --format json -o /dev/null "$$@"; done
	$(GO) tool pprof -proto $(BIN).pgo.* >default.pgo
	rm -f $(BIN).nopgo $(BIN).pgo.*

# soak leaves rstscope capturing live for 10 minutes (SOAK_SECONDS) on
# namespace traffic and prints its RSS and open files over time (needs
# root; not in CI).
soak: deps build
	$(SUDO) ./bench/soak.sh

# kernel-bench measures the kernel reset-event readers (root): a 40,000-RST
# flood (events read, lost, CPU) and the event-to-Read latency, BPF ring
# buffer vs perf_event_open rings. See kernel/doc.go.
kernel-bench:
	$(GO) test ./kernel -run X -bench 'Flood|Latency' -benchtime=1x -count 3

# fuzz runs every fuzz target of every package for FUZZTIME each (CI: 10s).
# Crashers land in the package's testdata/fuzz/<Target>/ and are replayed by
# `make test` from then on. Minimizing is capped: the multi-KiB capture seeds
# otherwise stall the fuzzer for minutes. .ci/fuzz.sh tells a finding (a
# reproducer written) from Go 1.26's deadline race at -fuzztime's end.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZMINTIME=$(FUZZMINTIME) bash .ci/fuzz.sh

clean:
	rm -rf bin
