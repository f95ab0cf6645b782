package service

import (
	"strings"
)

// NormalizeID turns a worker or session ID into its slug form: trimmed, lower-case, spaces and
// '_' as '-', characters outside [a-z0-9-] dropped, runs of '-' collapsed, no leading or
// trailing '-' ("Worker_01" → "worker-01").
func NormalizeID(id string) string {
	var b strings.Builder
	b.Grow(len(id))
	lastDash := true // drops leading dashes
	for _, r := range strings.ToLower(strings.TrimSpace(id)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			lastDash = false
		case r == '-' || r == '_' || r == ' ' || r == '\t':
			if !lastDash {
				b.WriteByte('-')
				lastDash = true
			}
		}
	}
	return strings.TrimRight(b.String(), "-")
}

// reservedWorkerIDs would collide with fixed routes under /workers.
var reservedWorkerIDs = map[string]bool{
	"register": true, "unregister": true, "statistics": true, "available": true,
	"test": true, "health": true, "health-check": true,
}

func upper(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }
