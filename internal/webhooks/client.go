package webhooks

import (
	"net"
	"net/http"
	"time"

	"github.com/wagateway/gateway/internal/netguard"
)

// AttemptTimeout bounds one delivery attempt, connection included.
const AttemptTimeout = 10 * time.Second

// NewHTTPClient returns the client that deliveries go through. Its dialer refuses private,
// loopback, link-local and metadata addresses at connect time (unless the guard allows
// them), which closes the DNS-rebinding gap left by checking URLs when they are saved; it uses
// no proxy (a proxy would connect for us, past that check), follows no redirect (a receiver
// could redirect to an internal address), and gives up after AttemptTimeout.
func NewHTTPClient(guard netguard.Guard, maxConnsPerHost int) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: guard.DialControl}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   maxConnsPerHost,
		MaxConnsPerHost:       maxConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: AttemptTimeout,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   AttemptTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
