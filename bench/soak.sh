#!/usr/bin/env bash
# bench/soak.sh: `make soak`, rstscope left running (not in CI; needs root).
#
# Two network namespaces joined by a veth pair (names carry this shell's
# pid; both deleted on exit, even on failure); bench/soakload makes a steady
# mix of connections in them (answered, reset after the request, refused)
# while rstscope captures live with the always-on options: NDJSON findings to
# a file, -w rotated (-C 1 -W 3), --metrics. Every SOAK_EVERY seconds it
# prints rstscope's RSS, open files, findings, flows held and -w disk use;
# at the end the first and last RSS, which a bounded sensor keeps flat.
# rstscope runs with --pprof, so SOAK_PROFILES keeps a heap profile per
# sample, fetched with curl (go tool pprof -sample_index=inuse_space
# DIR/heap-600s.pb.gz).
#
# Environment (defaults in brackets):
#   SOAK_SECONDS  how long [600]
#   SOAK_RATE     connections per second [200]
#   SOAK_EVERY    seconds between samples [30]
#   SOAK_W        1 to run with -w, 0 without (to tell its memory apart) [1]
#   SOAK_PROFILES a directory for a heap profile at every sample [none]
#   RSTSCOPE_BIN  the binary [bin/rstscope; built if missing]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

SECONDS_TOTAL=${SOAK_SECONDS:-600}
RATE=${SOAK_RATE:-200}
EVERY=${SOAK_EVERY:-30}
BIN=${RSTSCOPE_BIN:-bin/rstscope}
[ "$(id -u)" = 0 ] || { echo "soak: needs root (network namespaces): sudo make soak" >&2; exit 1; }

TMP=$(mktemp -d)
WARGS=(-w "$TMP/w/rst.pcap" -C 1 -W 3)
[ "${SOAK_W:-1}" = 0 ] && WARGS=()
NSA="rstsoak$$a"; NSB="rstsoak$$b"
RPID=""; SPID=""; LPID=""
cleanup() {
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null || true
	[ -n "$RPID" ] && kill "$RPID" 2>/dev/null || true
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true
	wait 2>/dev/null || true
	ip netns del "$NSA" 2>/dev/null || true
	ip netns del "$NSB" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$BIN" ] || go build -o "$BIN" .
go build -o "$TMP/soakload" ./bench/soakload

ip netns add "$NSA"; ip netns add "$NSB"
ip link add vethA netns "$NSA" type veth peer name vethB netns "$NSB"
ip -n "$NSA" addr add 10.231.9.1/24 dev vethA
ip -n "$NSB" addr add 10.231.9.2/24 dev vethB
for ns in "$NSA" "$NSB"; do ip -n "$ns" link set lo up; done
ip -n "$NSA" link set vethA up; ip -n "$NSB" link set vethB up

ip netns exec "$NSB" "$TMP/soakload" serve 10.231.9.2:8080 &
SPID=$!
mkdir "$TMP/w"
ip netns exec "$NSA" "$BIN" -i vethA --format ndjson -o "$TMP/findings.ndjson" \
	"${WARGS[@]}" --metrics 127.0.0.1:9471 --pprof --look-ahead 500ms tcp \
	2>"$TMP/rstscope.err" &
RPID=$!
for _ in $(seq 50); do grep -q "listening on" "$TMP/rstscope.err" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$TMP/rstscope.err" || { cat "$TMP/rstscope.err" >&2; exit 1; }

ip netns exec "$NSA" "$TMP/soakload" load 10.231.9.2:8080 10.231.9.2:9 "$RATE" "${SECONDS_TOTAL}s" >"$TMP/load.out" &
LPID=$!

get() { ip netns exec "$NSA" bash -c "exec 3<>/dev/tcp/127.0.0.1/9471; printf 'GET $1 HTTP/1.0\r\n\r\n' >&3; cat <&3"; }
metric() { get /metrics | awk -v m="$1" '$1==m {print $2}'; }
PROFILES=${SOAK_PROFILES:-}
[ -n "$PROFILES" ] && mkdir -p "$PROFILES"
sample() {
	local rss fds
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$RPID/status")
	fds=$(ls "/proc/$RPID/fd" | wc -l)
	printf '%6ss  rss %7s KiB  heap %7s KiB  fds %3s  findings %7s  flows held %6s  -w %5s KiB in %s files, %6s KiB held for %6s flows\n' \
		"$1" "$rss" "$(metric go_memstats_heap_alloc_bytes | awk '{printf "%d", $1/1024}')" "$fds" \
		"$(wc -l <"$TMP/findings.ndjson")" "$(metric rstscope_flows_active)" \
		"$(du -sk "$TMP/w" | cut -f1)" "$(ls "$TMP/w" | wc -l)" "$(metric rstscope_pcap_held_bytes | awk '{printf "%d", $1/1024}')" \
		"$(metric rstscope_pcap_held_flows)"
	echo "$1 $rss" >>"$TMP/rss"
	[ -n "$PROFILES" ] && ip netns exec "$NSA" curl -sf -o "$PROFILES/heap-$1s.pb.gz" http://127.0.0.1:9471/debug/pprof/heap
	return 0
}
echo "soak: ${SECONDS_TOTAL}s at ${RATE} connections/s (1 in 4 refused, half the rest reset)"
start=$(date +%s)
while kill -0 "$LPID" 2>/dev/null; do
	sample $(( $(date +%s) - start ))
	sleep "$EVERY" & wait $! || true
done
sample $(( $(date +%s) - start ))
cat "$TMP/load.out"
kill -USR1 "$RPID"; sleep 0.5
kill -INT "$RPID"; wait "$RPID" || { echo "soak: rstscope exited $?" >&2; cat "$TMP/rstscope.err" >&2; exit 1; }
RPID=""
grep -v "listening on\|metrics at" "$TMP/rstscope.err" || true
echo "soak: RSS first $(head -1 "$TMP/rss" | cut -d' ' -f2) KiB, last $(tail -1 "$TMP/rss" | cut -d' ' -f2) KiB, max $(cut -d' ' -f2 "$TMP/rss" | sort -n | tail -1) KiB"
