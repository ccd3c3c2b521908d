// Command rstscope reads packet captures (or a live interface) and explains
// every TCP reset: who sent it, and why. See README.md and DESIGN notes in
// each package's doc.go.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/rstscope/rstscope/capture"
	"github.com/rstscope/rstscope/internal/cli"
)

// exitReaderGone is the exit code when the reader of the report went away
// (EPIPE, as with | head): 128+SIGPIPE, what a shell reports for tcpdump
// killed by SIGPIPE. It comes quietly, once -w is complete.
const exitReaderGone = 128 + int(syscall.SIGPIPE)

func main() {
	stopProfile := startProfile()
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, interrupts())
	stopProfile()
	os.Exit(code)
}

// interrupts delivers SIGINT, SIGTERM and SIGHUP (a dropped ssh session).
// A second signal exits at once. SIGPIPE is ignored: a write to a reader
// that went away fails with EPIPE instead, so that -w is still completed.
func interrupts() <-chan struct{} {
	signal.Ignore(syscall.SIGPIPE)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	stop := make(chan struct{})
	go func() {
		<-sig
		close(stop)
		<-sig
		os.Exit(130)
	}()
	return stop
}

// run is main without the process: it parses args, runs the pipeline and
// returns the exit code (0 ok, 1 runtime failure, 2 usage error, 141 the
// report's reader went away).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, stop <-chan struct{}) int {
	cfg, err := cli.Parse(args, stdout, stderr)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		return 0
	case err != nil:
	case cfg.ShowVersion:
		_, err = fmt.Fprintf(stdout, "rstscope %s\n", cli.Version)
	case cfg.ListIfaces:
		err = capture.ListInterfaces(stdout)
	case cfg.Explain != "":
		err = cli.Explain(stdout, cfg.Explain)
	default:
		cfg.Stdin = stdin
		err = runPipeline(cfg, stdout, stderr, stop)
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, syscall.EPIPE):
		return exitReaderGone // quietly: the reader has gone
	}
	fmt.Fprintf(stderr, "rstscope: %v\n", err)
	if cli.IsUsage(err) {
		return 2
	}
	return 1
}
