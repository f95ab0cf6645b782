// Command gateway is the WhatsApp gateway backend: the HTTP API, the worker control plane and
// its background jobs, in one binary.
//
//	gateway [serve]                     run the server (the default)
//	gateway migrate up|down|status|redo manage the embedded database migrations
//	gateway seed                        create the administrator (and a demo user in development)
//	gateway version                     print the version
//	gateway healthcheck                 exit 0 when the local server answers /health (for Docker)
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
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}
