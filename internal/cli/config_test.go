package cli

import "testing"

// TestDefaultShards: a core for the reader, a shard per other core; one
// table on one core, two shards on two.
func TestDefaultShards(t *testing.T) {
	for _, c := range []struct{ cores, want int }{{1, 1}, {2, 2}, {3, 2}, {4, 3}, {8, 7}} {
		if got := defaultShards(c.cores); got != c.want {
			t.Errorf("defaultShards(%d): got %d, want %d", c.cores, got, c.want)
		}
	}
}
