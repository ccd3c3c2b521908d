package cli

import "testing"

// TestDefaultShards: one table on one core; on two and three cores two
// shards (the reader's goroutines share the cores with them); past that
// a core for the reader and one shard per other core.
func TestDefaultShards(t *testing.T) {
	for _, c := range []struct{ cores, want int }{{1, 1}, {2, 2}, {3, 2}, {4, 3}, {8, 7}} {
		if got := defaultShards(c.cores); got != c.want {
			t.Errorf("defaultShards(%d): got %d, want %d", c.cores, got, c.want)
		}
	}
}
