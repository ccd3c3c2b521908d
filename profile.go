package main

import (
	"os"
	"runtime/pprof"
)

// startProfile writes a CPU profile of the whole run to the file named by
// RSTSCOPE_CPUPROFILE, for `make bench` and whoever chases a slow capture
// (go tool pprof bin/rstscope FILE); unset, it does nothing. The returned
// function stops the profile.
func startProfile() func() {
	path := os.Getenv("RSTSCOPE_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		return func() {}
	}
	if pprof.StartCPUProfile(f) != nil {
		f.Close()
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}
