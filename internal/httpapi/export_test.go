package httpapi

import "net/http"

// IdempotencyStaleAfter and RequestHash let the external tests store claims of their own, as
// a gateway that died mid-request left them.
const IdempotencyStaleAfter = idempotencyStaleAfter

func RequestHash(r *http.Request, body []byte) string { return requestHash(r, body) }
