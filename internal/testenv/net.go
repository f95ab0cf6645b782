package testenv

import (
	"context"
	"net"
	"testing"
)

// ClosedAddr returns a loopback host:port that nothing listens on: connections to it are
// refused.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
