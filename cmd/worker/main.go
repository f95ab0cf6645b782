// Command worker is the gateway's WhatsApp worker: it holds many WhatsApp sessions in one
// process on go.mau.fi/whatsmeow (-engine whatsmeow, the default), or simulated ones
// (-engine sim) for a demo without a phone, and speaks the worker protocol with the backend:
// it registers, heartbeats, reports events, resumes the sessions the backend still places
// on it after a restart, and on SIGTERM tells the backend which sessions keep their
// credentials before it unregisters.
//
//	worker -database-url postgres://... -backend http://gateway:8000 [-port 8001]
//
// Flags win over the environment (PORT, WORKER_ID, WORKER_ENDPOINT, BACKEND_URL,
// WORKER_AUTH_TOKEN, MAX_SESSIONS, WA_DATABASE_URL or DATABASE_URL, WA_DEVICE_NAME, ...);
// see -h. The README's "Connecting a real phone" walks through a first link.
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
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}
