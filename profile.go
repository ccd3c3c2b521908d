package main

import (
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// startProfile writes a CPU profile of the whole run to the file named by
// RSTSCOPE_CPUPROFILE, for `make bench` and whoever chases a slow capture
// (go tool pprof bin/rstscope FILE), and an execution trace to the file
// named by RSTSCOPE_TRACE (go tool trace FILE: how the reader, the shards
// and the judging goroutine share the cores, where they wait); unset,
// each does nothing. The returned function stops both.
func startProfile() func() {
	var stops []func()
	if f := envFile("RSTSCOPE_CPUPROFILE"); f != nil {
		if pprof.StartCPUProfile(f) != nil {
			f.Close()
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if f := envFile("RSTSCOPE_TRACE"); f != nil {
		if trace.Start(f) != nil {
			f.Close()
		} else {
			stops = append(stops, func() { trace.Stop(); f.Close() })
		}
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

// envFile creates the file named by environment variable env, or gives
// nil (unset, or it cannot be created).
func envFile(env string) *os.File {
	path := os.Getenv(env)
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil
	}
	return f
}
