// Command bench is the gateway's benchmark: it starts the real server in-process against the
// local PostgreSQL and Redis, on a fresh database and Redis key prefix of its own, with
// simulated workers in-process, runs the scenarios and writes a Markdown and a JSON report.
//
//	bench [-quick] [-duration 20s] [-connections 64] [-scenarios send-sync,placement,...]
//	      [-out docs/bench] [-cpuprofile cpu.out]
//
// The database, the Redis keys, the simulated workers and every goroutine are cleaned up at
// the end, also when a scenario fails or the run is interrupted. See docs/bench/REPORT.md for
// the last full run and README.md ("Benchmark") for how to read it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
