#!/usr/bin/env bash
# shell.sh: a lab topology for trying things by hand (as root).
#
#   pcaps/lab/shell.sh              an interactive shell with the topology up
#   pcaps/lab/shell.sh CMD ARGS...  run CMD with the topology up
#
# The namespaces are $C, $R1, $R2, $R3 and $S (exported), e.g.
#   ip netns exec $S go run ./pcaps/lab/labpeer server -listen 10.77.3.2:8080 &
#   ip netns exec $C tcpdump -i c0 -w /tmp/x.pcap -U --immediate-mode tcp &
#   ip netns exec $C go run ./pcaps/lab/labpeer client -connect 10.77.3.2:8081 -mode connect
# Everything (namespaces and the processes left in them) is removed on exit,
# whatever the exit path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=rsl-$$-x
cleanup() { "$here/topo.sh" down "$prefix"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
"$here/topo.sh" up "$prefix"
export C=$prefix-c R1=$prefix-r1 R2=$prefix-r2 R3=$prefix-r3 S=$prefix-s
echo "lab up: C=$C R1=$R1 R2=$R2 R3=$R3 S=$S (client 10.77.1.2 fd00:77:1::2, server 10.77.3.2 fd00:77:3::2)" >&2
if [ $# -eq 0 ]; then
	"${SHELL:-bash}" -i
else
	"$@"
fi
