package report

import (
	"math/rand/v2"
	"testing"
)

// plainRunRef is plainRun a byte at a time.
func plainRunRef(s string, i int) int {
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return i
		}
	}
	return i
}

// TestPlainRun: plainRun ends where a byte-by-byte walk ends, for every
// byte value at every place of a word and every start, in strings of
// plain bytes with one other byte (or none), and in random strings
// mixing plain bytes, UTF-8 and controls.
func TestPlainRun(t *testing.T) {
	plain := []byte("The server reset 5.0 ms after GET / (Host example.com) [frame 100]{}~ ")
	for n := 0; n <= 40; n++ {
		base := make([]byte, n)
		for k := range base {
			base[k] = plain[k%len(plain)]
		}
		s := string(base)
		for i := 0; i <= n; i++ {
			if got, want := plainRun(s, i), plainRunRef(s, i); got != want {
				t.Fatalf("%q from %d: %d, want %d", s, i, got, want)
			}
		}
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				b := append([]byte(nil), base...)
				b[at] = byte(c)
				s := string(b)
				for _, i := range []int{0, at / 2, at, min(at+1, n)} {
					if got, want := plainRun(s, i), plainRunRef(s, i); got != want {
						t.Fatalf("%q (byte %#x at %d) from %d: %d, want %d", s, c, at, i, got, want)
					}
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "Z", " ", "~", "µ", "→", "\x1b", "\x7f", "\xff", "\"", "\\", "\t", "\u2028", "0123456789"}
	for range 20000 {
		var b []byte
		for range rng.IntN(40) {
			p := pieces[rng.IntN(len(pieces))]
			if rng.IntN(3) > 0 {
				p = pieces[rng.IntN(4)]
			}
			b = append(b, p...)
		}
		s := string(b)
		i := rng.IntN(len(s) + 1)
		if got, want := plainRun(s, i), plainRunRef(s, i); got != want {
			t.Fatalf("%q from %d: %d, want %d", s, i, got, want)
		}
	}
}

func BenchmarkPlainRun(b *testing.B) {
	s := "RST claimed from server 198.18.5.141:80 arrived 5.0 ms after the client's HTTP request GET / (Host www.example.com) (frame 100), while the server kept sending after it"
	for b.Loop() {
		if plainRun(s, 0) != len(s) {
			b.Fatal("not plain")
		}
	}
}

func BenchmarkPlainRunRef(b *testing.B) {
	s := "RST claimed from server 198.18.5.141:80 arrived 5.0 ms after the client's HTTP request GET / (Host www.example.com) (frame 100), while the server kept sending after it"
	for b.Loop() {
		if plainRunRef(s, 0) != len(s) {
			b.Fatal("not plain")
		}
	}
}
