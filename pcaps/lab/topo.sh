#!/usr/bin/env bash
# topo.sh: the rstscope network-namespace lab topology.
#
#   topo.sh up PREFIX     create PREFIX-c, PREFIX-r1, PREFIX-r2, PREFIX-r3, PREFIX-s
#   topo.sh down PREFIX   delete them (and everything in them)
#
#   client (c0) ── (r1c) router1 (r1r) ── (r2l) router2 (r2r) ── (r3l) router3 (r3s) ── (s0) server
#   10.77.1.2      10.77.1.1   10.77.2.1    10.77.2.2   10.77.4.1    10.77.4.2   10.77.3.1    10.77.3.2
#   fd00:77:1::2   fd00:77:1::1 fd00:77:2::1 fd00:77:2::2 fd00:77:4::1 fd00:77:4::2 fd00:77:3::1 fd00:77:3::2
#
# The three routers forward; the server's packets reach the client with TTL 61
# (three hops) and the client's the server with 61. A packet made on a router
# (iptables REJECT) arrives with 64 minus the routers between it and the
# capture point: router1's at the client with 64, router2's 63, router3's 62
# (one hop nearer than the server), and at the server the other way round.
# Every veth pair is
# created directly inside its namespaces, so nothing is attached to the root
# namespace and no packet can leave the lab. Offloads are switched off where
# ethtool exists, so captures show wire-sized segments. A failing "up" removes
# what it created (trap).
set -euo pipefail

usage() { echo "usage: $0 up|down PREFIX" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1 p=$2
case $p in
	rsl-*) ;;
	*) echo "topo.sh: prefix $p must start with rsl-" >&2; exit 2 ;;
esac
[ ${#p} -le 24 ] || { echo "topo.sh: prefix $p too long" >&2; exit 2; }

c=$p-c r1=$p-r1 r2=$p-r2 r3=$p-r3 s=$p-s

down() {
	local ns
	for ns in "$c" "$r1" "$r2" "$r3" "$s"; do
		if ip netns pids "$ns" >/dev/null 2>&1; then
			# processes still inside (a capture or peer that outlived its owner)
			local pid
			for pid in $(ip netns pids "$ns"); do kill -KILL "$pid" 2>/dev/null || true; done
			ip netns del "$ns" 2>/dev/null || true
		fi
	done
}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

up() {
	trap 'rc=$?; [ $rc -eq 0 ] || down; exit $rc' EXIT
	local ns
	for ns in "$c" "$r1" "$r2" "$r3" "$s"; do
		ip netns add "$ns"
		nsx "$ns" ip link set lo up
		nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_ra=0 net.ipv6.conf.default.accept_ra=0 \
			net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	done
	ip link add c0 netns "$c" type veth peer name r1c netns "$r1"
	ip link add r1r netns "$r1" type veth peer name r2l netns "$r2"
	ip link add r2r netns "$r2" type veth peer name r3l netns "$r3"
	ip link add r3s netns "$r3" type veth peer name s0 netns "$s"

	addr() { # ns dev v4 v6
		nsx "$1" ip addr add "$3/24" dev "$2"
		nsx "$1" ip -6 addr add "$4/64" dev "$2" nodad
		if command -v ethtool >/dev/null; then
			nsx "$1" ethtool -K "$2" gro off gso off tso off tx off rx off >/dev/null 2>&1 || true
		fi
		nsx "$1" ip link set "$2" up
	}
	addr "$c" c0 10.77.1.2 fd00:77:1::2
	addr "$r1" r1c 10.77.1.1 fd00:77:1::1
	addr "$r1" r1r 10.77.2.1 fd00:77:2::1
	addr "$r2" r2l 10.77.2.2 fd00:77:2::2
	addr "$r2" r2r 10.77.4.1 fd00:77:4::1
	addr "$r3" r3l 10.77.4.2 fd00:77:4::2
	addr "$r3" r3s 10.77.3.1 fd00:77:3::1
	addr "$s" s0 10.77.3.2 fd00:77:3::2

	for ns in "$r1" "$r2" "$r3"; do
		nsx "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	done
	nsx "$c" ip route add default via 10.77.1.1
	nsx "$c" ip -6 route add default via fd00:77:1::1
	nsx "$r1" ip route add default via 10.77.2.2
	nsx "$r1" ip -6 route add default via fd00:77:2::2
	nsx "$r2" ip route add 10.77.1.0/24 via 10.77.2.1
	nsx "$r2" ip -6 route add fd00:77:1::/64 via fd00:77:2::1
	nsx "$r2" ip route add 10.77.3.0/24 via 10.77.4.2
	nsx "$r2" ip -6 route add fd00:77:3::/64 via fd00:77:4::2
	nsx "$r3" ip route add default via 10.77.4.1
	nsx "$r3" ip -6 route add default via fd00:77:4::1
	nsx "$s" ip route add default via 10.77.3.1
	nsx "$s" ip -6 route add default via fd00:77:3::1

	# neighbours resolved (and the path proved) before any capture starts, so
	# the first SYN is not delayed; ping is optional (iputils-ping)
	if command -v ping >/dev/null; then
		nsx "$c" ping -c1 -W2 10.77.3.2 >/dev/null
		nsx "$c" ping -6 -c1 -W2 fd00:77:3::2 >/dev/null
	fi
}

case $cmd in
	up) up ;;
	down) down ;;
	*) usage ;;
esac
