// Command simworker is a worker that speaks the worker protocol without WhatsApp: it
// registers with the backend, heartbeats, starts sessions that show a QR and connect after a
// delay, answers sends with WhatsApp-like IDs followed by receipts, receives the odd message,
// and can be told to be slow, to fail or to die. It powers the tests, the benchmark and the
// local demo; it is not a production worker.
//
//	simworker [-port 8001] [-backend http://127.0.0.1:8000] [-connect-delay 3s] ...
//
// Flags win over the environment (PORT, WORKER_ID, WORKER_ENDPOINT, BACKEND_URL,
// WORKER_AUTH_TOKEN, MAX_SESSIONS, ...); see -h. The admin endpoint, on the same port and
// behind the same bearer token:
//
//	POST /admin/faults {"latency":"200ms","failSends":true,"hang":false}
//	POST /admin/die    stop at once, without unregistering, like a crash
//	GET  /admin/stats  what reached the worker
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
		fmt.Fprintln(os.Stderr, "simworker:", err)
		os.Exit(1)
	}
}
