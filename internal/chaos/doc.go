// Package chaos is the gateway's fault suite: it starts real gateway processes, a private
// PostgreSQL and Redis of its own (on spare ports, in temporary directories) and simulated
// workers, breaks them on purpose (replicas racing and killed, workers crashing, hanging or
// answering garbage, Redis flushed and stopped, Postgres restarted, the gateway terminated and
// killed under load, a long soak) and counts, for every fault, the requests made, the
// messages accepted, lost and sent twice.
//
// The suite is behind the build tag chaos, so `make test` does not run it:
//
//	make test-chaos        # the full suite; writes docs/reliability/REPORT.md
//	make test-chaos-short  # the short form CI runs (go test -short), same tables, printed
//
// It needs initdb and pg_ctl (CHAOS_PG_BIN, default /usr/lib/postgresql/15/bin) and
// redis-server on the PATH; run as root, it runs PostgreSQL as the postgres user.
package chaos
