package realtime

import (
	"context"
	"time"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/model"
)

// authWatch watches the JWT a long-lived connection (Socket.IO or SSE) was opened with: ended
// receives the reason once the token expires, or once a check every AuthRecheck finds it
// revoked or its account inactive. A check that fails for another reason (the database is
// down) changes nothing: the connection outlives an outage of the database.
type authWatch struct {
	ended <-chan string
	stop  func()
}

func (h *Hub) newAuthWatch(p *auth.Principal, token string) authWatch {
	ended := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		recheck := time.NewTicker(h.cfg.AuthRecheck)
		defer recheck.Stop()
		var expiry <-chan time.Time
		if p != nil && !p.TokenExpiresAt.IsZero() {
			timer := time.NewTimer(time.Until(p.TokenExpiresAt))
			defer timer.Stop()
			expiry = timer.C
		}
		for {
			select {
			case <-done:
				return
			case <-h.ctx.Done():
				return
			case <-expiry:
				ended <- "Token expired"
				return
			case <-recheck.C:
				ctx, cancel := context.WithTimeout(h.ctx, callTimeout)
				_, err := h.cfg.Authenticate(ctx, token)
				cancel()
				if kind := model.KindOf(err); err != nil && (kind == model.KindUnauthorized || kind == model.KindForbidden) {
					ended <- "Token revoked or account inactive"
					return
				}
			}
		}
	}()
	return authWatch{ended: ended, stop: func() { close(done) }}
}
