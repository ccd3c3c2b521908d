package cli

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestKernelFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		live    bool
		reasons string
		events  string
		err     string
	}{
		{nil, true, "auto", "", ""},
		{[]string{"--kernel-reasons"}, true, "on", "", ""},
		{[]string{"--kernel-reasons=off"}, true, "off", "", ""},
		{[]string{"--kernel-reasons=maybe"}, true, "", "", "want auto, on or off"},
		{[]string{"--kernel-events", "k.ndjson"}, true, "auto", "k.ndjson", ""},
		{[]string{"--kernel-events", "k.ndjson"}, false, "auto", "k.ndjson", ""},
		{[]string{"--kernel-reasons"}, false, "", "", "needs -i"},
		{[]string{"--kernel-reasons=off", "--kernel-events", "k.ndjson"}, true, "", "", "needs --kernel-reasons"},
	} {
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		var k kernelFlags
		k.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		err := k.check(tc.live)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v live=%v: got %v, want error with %q", tc.args, tc.live, err, tc.err)
			}
			continue
		}
		if err != nil || k.reasons != tc.reasons || k.events != tc.events {
			t.Errorf("%v live=%v: got %q %q %v, want %q %q", tc.args, tc.live, k.reasons, k.events, err, tc.reasons, tc.events)
		}
	}
}
