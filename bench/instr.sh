#!/usr/bin/env bash
# bench/instr.sh: instructions per packet (`make bench-instr`).
#
# Wall-clock figures on a shared or virtual 2-core machine move by 30% from
# one run to the next; instruction counts do not. This runs the floor
# (../shared/floor, mode flow: gopacket decode + a flow map) and rstscope
# -r, one table and --shards 2, under valgrind's cachegrind on the same
# generated capture (BENCH_PACKETS packets of the bench mix, 1,000,000 by
# default: about a minute each under valgrind) and prints instructions per
# packet, the ratio to the floor, and where rstscope's go, by package.
# Instructions are not time (a cache miss costs more than an add; two
# cores run at once), so `make bench` stays the measure of speed; this is
# the measure of work, for comparing two builds on a noisy machine (it
# repeats to about 0.02%: rstscope runs on one P, see below).
#
# Environment: BENCH_PACKETS [1000000], BENCH_DIR [pcaps/bench],
# RSTSCOPE_BIN [bin/rstscope], FLOOR_DIR [../shared/floor].
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

GO=${GO:-go}
PACKETS=${BENCH_PACKETS:-1000000}
FLOWS=$(( PACKETS * 280000 / 10200000 ))
DIR=${BENCH_DIR:-pcaps/bench}
BIN=${RSTSCOPE_BIN:-bin/rstscope}
FLOOR_DIR=${FLOOR_DIR:-../shared/floor}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
say() { printf '%s\n' "$*" >&2; }

if ! command -v valgrind >/dev/null; then
	say "installing valgrind"
	SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
	{ $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq valgrind; } >/dev/null 2>&1 || true
fi
command -v valgrind >/dev/null || { say "bench-instr: valgrind is needed (apt-get install valgrind)"; exit 1; }

[[ -x $BIN ]] || $GO build -o "$BIN" .
mkdir -p "$DIR"
PCAP="$DIR/mix-${PACKETS}p-${FLOWS}f-s128-seed1.pcap"
if [[ ! -s $PCAP ]]; then
	say "generating $PCAP"
	$GO run ./cmd/rstgen -o "$PCAP" -packets "$PACKETS" -flows "$FLOWS" -snaplen 128 -seed 1 >/dev/null
fi
npk=$(capinfos -c -M "$PCAP" 2>/dev/null | awk '/Number of packets/ {print $NF}')
npk=${npk:-$PACKETS}

# cg LABEL OUT CMD...: instructions of CMD (all threads), its goroutines
# on one P (GOMAXPROCS=1, no asynchronous preemption): with two, a
# goroutine waiting for another spins in the scheduler, and under
# valgrind, which runs one thread at a time, how long it spins changes
# from run to run (one table once counted 3,137 instructions a packet,
# then 1,959; the floor 2,321 then 3,522); on one P two runs agree
# within 0.02%. The work counted is the same: the shards still take
# their packets in batches through the ring, only no thread spins.
cg() {
	local label=$1 out=$2; shift 2
	GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file="$out" "$@" >/dev/null 2>"$TMP/err" ||
		{ say "$label failed:"; cat "$TMP/err" >&2; exit 1; }
	awk '/I *refs/ {gsub(",", "", $NF); print $NF}' "$TMP/err"
}

floor_ir=""
if [[ -d $FLOOR_DIR ]] && (cd "$FLOOR_DIR" && $GO build -o "$TMP/floor" .) 2>/dev/null; then
	floor_ir=$(cg floor "$TMP/floor.out" "$TMP/floor" -mode flow "$PCAP")
fi
t1=$(cg "rstscope (one table)" "$TMP/t1.out" "$BIN" -r "$PCAP" --shards 1 --format json -o /dev/null)
t2=$(cg "rstscope --shards 2" "$TMP/t2.out" "$BIN" -r "$PCAP" --shards 2 --format json -o /dev/null)

printf 'instructions per packet (cachegrind), %s: %s packets\n' "$PCAP" "$npk"
row() { # LABEL IR
	local ratio=""
	[[ -n $floor_ir ]] && ratio=$(awk -v a="$2" -v b="$floor_ir" 'BEGIN{printf "%.2fx the floor", a/b}')
	printf '  %-44s %8s  %s\n' "$1" "$(awk -v a="$2" -v n="$npk" 'BEGIN{printf "%.0f", a/n}')" "$ratio"
}
[[ -n $floor_ir ]] && row "floor -mode flow (gopacket decode + map)" "$floor_ir"
row "rstscope -r F --format json (one table)" "$t1"
row "rstscope -r F --format json --shards 2" "$t2"

printf 'rstscope (one table) by package, instructions per packet:\n'
cg_annotate --show=Ir --threshold=0 --auto=no "$TMP/t1.out" 2>/dev/null | awk -v n="$npk" '
	/^ *[0-9,]+ \(/ && !/PROGRAM TOTALS/ {
		v = $1; gsub(",", "", v); f = $NF; k = "other (runtime, std library)"
		if (f ~ /rstscope\/flows\./) k = "flows (tracking)"
		else if (f ~ /rstscope\/capture\./ || f ~ /gopacket/) k = "capture (read, decode)"
		else if (f ~ /rstscope\/report\./ || f ~ /encoding\/json/) k = "report (and encoding/json)"
		else if (f ~ /rstscope\/heuristics\./) k = "heuristics (judging)"
		else if (f ~ /main\./ || f ~ /rstscope\/internal\//) k = "main, internal/cli"
		s[k] += v
	}
	END { for (k in s) printf "%.0f\t%s\n", s[k] / n, k }' | sort -rn | awk -F'\t' '{printf "  %-44s %8s\n", $2, $1}'

# The flow table's cache misses, simulated: what the instruction counts
# cannot show, and what a layout change of the flow state changes. Only
# flows.Table.Add and what it calls are counted (callgrind
# --toggle-collect), over BenchmarkMix/table's 1 M packets held in
# memory, on one goroutine with asynchronous preemption off, so that the
# count repeats to about 0.3% (session 11: 4.30-4.32 M last-level read
# misses, three builds of one layout); a whole rstscope run under
# valgrind does not (its goroutines' threads interleave differently each
# run: 15% apart). Caches: 32 KiB D1, 2 MiB last level, smaller than the
# mix's flow state, as a busy link's outgrows a real one.
if $GO test -c -o "$TMP/flows.test" ./flows 2>"$TMP/err"; then
	if GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind --cache-sim=yes --D1=32768,8,64 --LL=2097152,16,64 \
		--toggle-collect='github.com/rstscope/rstscope/flows.(*Table).Add' --callgrind-out-file="$TMP/mix.out" \
		"$TMP/flows.test" -test.run='^$' -test.bench='BenchmarkMix/table$' -test.benchtime=1x >/dev/null 2>"$TMP/err"; then
		awk '
			/ I +refs:/ { gsub(",", "", $4); ir = $4 }
			/ D1 +misses:/ { gsub(",", "", $6); d1 = $6 }
			/ LLd misses:/ { gsub(",", "", $6); ll = $6 }
			END {
				printf "flows.Table.Add on BenchmarkMix/table (1 M packets, callgrind; D1 32 KiB, LL 2 MiB), per packet:\n"
				printf "  %-44s %8.0f\n  %-44s %8.2f\n  %-44s %8.2f\n", "instructions", ir / 1e6, "D1 read misses", d1 / 1e6, "last-level read misses", ll / 1e6
			}' "$TMP/err"
	else
		say "bench-instr: callgrind of BenchmarkMix/table failed:"; tail -5 "$TMP/err" >&2
	fi
else
	say "bench-instr: go test -c ./flows failed:"; cat "$TMP/err" >&2
fi
