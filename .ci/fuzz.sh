#!/usr/bin/env bash
# fuzz.sh runs every fuzz target of every package for FUZZTIME each.
#
# A real finding always writes a reproducer to the package's
# testdata/fuzz/<Target>/ (and `make test` replays it from then on), so a run
# fails when a reproducer appears or the output shows a panic or a test error.
# A bare "context deadline exceeded" at the -fuzztime boundary with no
# reproducer is Go's own coordinator race (go.dev/issue/75804, fixed in Go
# 1.27, present in 1.26.x): that target is run once more, and only a second
# bare deadline is let through, with a warning, as not a finding.
set -uo pipefail
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-30s}
FUZZMINTIME=${FUZZMINTIME:-5s}
cd "$(dirname "$0")/.."

# run_one DIR TARGET: 0 passed, 1 real failure, 2 deadline flake.
run_one() {
	local d=$1 t=$2 log before after
	log=$(mktemp)
	before=$(ls "$d/testdata/fuzz/$t" 2>/dev/null | sort)
	"$GO" test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" -fuzzminimizetime "$FUZZMINTIME" "$d" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	after=$(ls "$d/testdata/fuzz/$t" 2>/dev/null | sort)
	if [ "$rc" = 0 ]; then rm -f "$log"; return 0; fi
	if [ "$before" = "$after" ] &&
		grep -q 'context deadline exceeded' "$log" &&
		! grep -qE 'Failing input written|panic:|_test\.go:[0-9]+:' "$log"; then
		rm -f "$log"; return 2
	fi
	rm -f "$log"; return 1
}

flakes=0
for d in $(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do
	for t in $(grep -h '^func Fuzz' "$d"/*_test.go | sed 's/^func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do
		echo "== fuzz $d $t ($FUZZTIME)"
		run_one "$d" "$t"; rc=$?
		if [ $rc = 2 ]; then
			echo "== $t: deadline race without a reproducer (go.dev/issue/75804); running it again"
			run_one "$d" "$t"; rc=$?
			if [ $rc = 2 ]; then
				echo "warning: $t hit the deadline race twice and wrote no reproducer; not a finding"
				flakes=$((flakes + 1)); rc=0
			fi
		fi
		if [ $rc != 0 ]; then echo "FAIL: fuzz $d $t"; exit 1; fi
	done
done
echo "fuzz: every target passed ($flakes deadline races let through)"
