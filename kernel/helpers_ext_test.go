package kernel_test

import (
	"os"
	"testing"

	"github.com/rstscope/rstscope/kernel"
)

func readFormat(t *testing.T, path string) *kernel.Format {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	f, err := kernel.ParseFormat(fh, path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
