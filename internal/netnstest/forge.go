package netnstest

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// ForgeRST sends a bare RST (no ACK, window 0, no options) from a raw
// socket in the calling thread's namespace (run it inside In): the
// forged reset of an on-path injector, with from's address and port and
// the given seq. The kernel adds the IP header; the TCP checksum covers
// the pseudo header.
func ForgeRST(t testing.TB, from, to netip.AddrPort, seq uint32) {
	t.Helper()
	hdr := make([]byte, 20)
	binary.BigEndian.PutUint16(hdr[0:], from.Port())
	binary.BigEndian.PutUint16(hdr[2:], to.Port())
	binary.BigEndian.PutUint32(hdr[4:], seq)
	hdr[12] = 5 << 4
	hdr[13] = 0x04 // RST
	ph := append(append(from.Addr().AsSlice(), to.Addr().AsSlice()...), 0, unix.IPPROTO_TCP, 0, 20)
	sum := uint32(0)
	for _, b := range [][]byte{ph, hdr} {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(binary.BigEndian.Uint16(b[i:]))
		}
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(hdr[16:], ^uint16(sum))
	fam := unix.AF_INET6
	var sa unix.Sockaddr = &unix.SockaddrInet6{Addr: to.Addr().As16()}
	if to.Addr().Is4() {
		fam = unix.AF_INET
		sa = &unix.SockaddrInet4{Addr: to.Addr().As4()}
	}
	fd, err := unix.Socket(fam, unix.SOCK_RAW, unix.IPPROTO_TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Sendto(fd, hdr, 0, sa); err != nil {
		t.Fatal(err)
	}
}
