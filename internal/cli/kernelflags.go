package cli

import (
	"fmt"

	"github.com/spf13/pflag"
)

// kernelFlags are --kernel-reasons and --kernel-events (package kernel),
// parsed and checked here; kernel.go opens what they ask for.
type kernelFlags struct {
	reasons string // "auto", "on" or "off"
	events  string // NDJSON file: written while capturing (-i), read with -r
}

func (k *kernelFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&k.reasons, "kernel-reasons", "auto",
		"with -i on Linux, join each RST with this host kernel's reset reason: auto, on (fail if unavailable), off")
	fs.Lookup("kernel-reasons").NoOptDefVal = "on"
	fs.StringVar(&k.events, "kernel-events", "",
		"NDJSON file of the kernel's reset events: written while capturing with -i, joined when reading with -r")
}

// check validates the values; live says whether -i was given.
func (k *kernelFlags) check(live bool) error {
	switch k.reasons {
	case "auto", "on", "off":
	default:
		return fmt.Errorf("--kernel-reasons %q: want auto, on or off", k.reasons)
	}
	if !live && k.reasons == "on" {
		return fmt.Errorf("--kernel-reasons=on needs -i: with -r, give the recorded events with --kernel-events")
	}
	if live && k.reasons == "off" && k.events != "" {
		return fmt.Errorf("--kernel-events with -i records the kernel's events: it needs --kernel-reasons auto or on")
	}
	return nil
}
