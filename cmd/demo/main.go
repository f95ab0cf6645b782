// Command demo shows the gateway working end to end on this machine: it starts the real
// server and two simulated workers in-process on the local PostgreSQL and Redis, on a fresh
// database and Redis key prefix of its own, and walks through the public API step by step,
// printing each request and its answer: register, log in, create a session, connect, the QR
// code drawn in the terminal, CONNECTED, a text and an image sent with the session's API
// key, their receipts, an incoming message and the history.
//
//	demo [-keep] [-addr 127.0.0.1:8000] [-database-url postgres://...] [-redis-url redis://...]
//
// The database and the Redis keys are removed at the end, also when a step fails or the demo
// is interrupted. With -keep the server and its workers stay up after the walk, until Ctrl-C,
// so that the API can be tried from Swagger UI or the dashboard. `make demo` runs it.
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
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
