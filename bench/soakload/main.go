// Command soakload is the traffic of `make soak` (bench/soak.sh): run in two
// network namespaces, it makes a steady mix of TCP connections, many of
// them ending in resets, for rstscope to watch for minutes.
//
//	soakload serve ADDR               accept on ADDR; per connection read the
//	                                  request, then answer and close with FIN,
//	                                  or reset (SO_LINGER 0), in turn
//	soakload load ADDR CLOSED RATE D  connect to ADDR (and to CLOSED, refused)
//	                                  RATE times a second for D, then print counts
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "soakload: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "serve":
		return serve(args[1])
	case len(args) == 5 && args[0] == "load":
		rate, err := strconv.Atoi(args[3])
		if err != nil || rate < 1 {
			return fmt.Errorf("rate %q: want a positive number", args[3])
		}
		d, err := time.ParseDuration(args[4])
		if err != nil {
			return err
		}
		return load(args[1], args[2], rate, d)
	}
	return fmt.Errorf("usage: soakload serve ADDR | soakload load ADDR CLOSED RATE DURATION")
}

func serve(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var n atomic.Uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go func(c net.Conn, reset bool) {
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 512)
			if _, err := c.Read(buf); err != nil {
				return
			}
			if reset {
				c.(*net.TCPConn).SetLinger(0) // RST: server_reset_after_request
				return
			}
			c.Write([]byte("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"))
			c.Read(buf) // the client's FIN
		}(c, n.Add(1)%2 == 0)
	}
}

func load(addr, closed string, rate int, d time.Duration) error {
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	end := time.Now().Add(d)
	var ok, refused, failed atomic.Uint64
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		target := addr
		if i%4 == 3 {
			target = closed
		}
		go func(target string) {
			c, err := net.DialTimeout("tcp", target, 2*time.Second)
			if err != nil {
				if target == closed {
					refused.Add(1)
				} else {
					failed.Add(1)
				}
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(3 * time.Second))
			fmt.Fprintf(c, "GET /soak HTTP/1.1\r\nHost: soak.test\r\n\r\n")
			c.Read(make([]byte, 512))
			ok.Add(1)
		}(target)
	}
	time.Sleep(3 * time.Second)
	fmt.Printf("soakload: %d connections, %d refused, %d failed\n", ok.Load(), refused.Load(), failed.Load())
	return nil
}
