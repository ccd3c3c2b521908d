package capture

import "testing"

// TestLinkTypes checks the link-type table: one row per value, every row
// with a decoder has a test frame that decodes (decodeCases), and every
// test frame's link type has a row with a decoder.
func TestLinkTypes(t *testing.T) {
	seen := map[int]bool{}
	for _, l := range linkTypes {
		if seen[l.num] {
			t.Errorf("link type %d: two rows", l.num)
		}
		seen[l.num] = true
		if l.num < 0 || l.num > maxLinkType {
			t.Errorf("link type %d: outside the dispatch array (max %d)", l.num, maxLinkType)
		}
		if l.name == "" {
			t.Errorf("link type %d: no name", l.num)
		}
	}
	tested := map[int]bool{}
	for _, c := range decodeCases(t) {
		tested[c.linkType] = true
		if l, ok := lookupLinkType(c.linkType); !ok || l.decode == nil {
			t.Errorf("test frame %s: link type %d has no decoder row", c.name, c.linkType)
		}
	}
	for _, l := range linkTypes {
		if l.decode != nil && !tested[l.num] {
			t.Errorf("link type %d (%s): a decoder without a test frame in decodeCases", l.num, l.name)
		}
	}
}

func TestLinkTypeName(t *testing.T) {
	for _, c := range []struct {
		lt   int
		want string
	}{{1, "EN10MB"}, {101, "RAW"}, {117, "PFLOG"}, {147, "USER0"}, {162, "USER15"}, {276, "LINUX_SLL2"}, {9999, "unknown"}} {
		if got := linkTypeName(c.lt); got != c.want {
			t.Errorf("linkTypeName(%d): got %q, want %q", c.lt, got, c.want)
		}
	}
	for _, c := range []struct{ lt, want int }{{101, 12}, {100, 11}, {1, 1}, {276, 276}, {9999, 9999}} {
		if got := dltOf(c.lt); got != c.want {
			t.Errorf("dltOf(%d): got %d, want %d", c.lt, got, c.want)
		}
	}
}
