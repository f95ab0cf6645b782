// Package netguard keeps the gateway from being used to reach private networks (SSRF): media
// URLs that workers download and webhook URLs the gateway calls must resolve to public
// addresses, unless WEBHOOK_ALLOW_PRIVATE allows private ones (local testing).
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// blocked are the ranges a public URL must not reach, beyond what netip classifies
// (loopback, private, link-local, multicast, unspecified).
var blocked = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated): an IPv4 address in disguise
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 can reach IPv4 private space
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64 (RFC 8215), the operator's own IPv4 space
	netip.MustParsePrefix("100::/64"),        // discard
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments: Teredo tunnels, benchmarking
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fc00::/7"),        // unique local
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// sixToFour is 2002::/16: a 6to4 address embeds an IPv4 address (bits 16–47) that a host
// with a 6to4 tunnel reaches over IPv4.
var sixToFour = netip.MustParsePrefix("2002::/16")

// IsPublic reports whether addr is a public unicast address. Cloud metadata endpoints
// (169.254.169.254, fd00:ec2::254) are link-local or unique-local and so not public.
func IsPublic(addr netip.Addr) bool {
	// A zone (fe80::1%eth0) says nothing about reachability, and netip.Prefix.Contains never
	// matches a zoned address: without dropping it, [fec0::1%25x] slipped past blocked.
	addr = addr.Unmap().WithZone("")
	if !addr.IsValid() || addr.IsLoopback() || addr.IsPrivate() || addr.IsLinkLocalUnicast() ||
		addr.IsLinkLocalMulticast() || addr.IsInterfaceLocalMulticast() || addr.IsMulticast() || addr.IsUnspecified() {
		return false
	}
	for _, p := range blocked {
		if p.Contains(addr) {
			return false
		}
	}
	if sixToFour.Contains(addr) {
		b := addr.As16()
		return IsPublic(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	return true
}

// ErrNotPublic says a URL reaches a private address.
var ErrNotPublic = errors.New("points at a private, loopback or reserved address")

// Resolver resolves host names; net.DefaultResolver in production.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Guard checks URLs against private addresses.
type Guard struct {
	AllowPrivate bool
	Resolver     Resolver
}

// CheckURL requires an http or https URL whose host resolves only to public addresses
// (any address when AllowPrivate).
func (g Guard) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || !rereads(u) {
		return nil, errors.New("must be an http or https URL")
	}
	if u.User != nil {
		return nil, errors.New("must not carry credentials")
	}
	if g.AllowPrivate {
		return u, nil
	}
	if err := g.checkHost(ctx, u.Hostname()); err != nil {
		return nil, err
	}
	return u, nil
}

// rereads reports whether u's text, the URL as stored and requested, parses back to the same
// host: a zone of bytes that are not UTF-8 ("http://[1::%25\xfb]") parses once but is written
// as an escape the parser then refuses, so the host checked would not be the one used.
func rereads(u *url.URL) bool {
	again, err := url.Parse(u.String())
	return err == nil && again.Hostname() == u.Hostname()
}

// checkHost checks a URL's Hostname(), brackets already removed: an address, or a name that
// must resolve to public addresses only.
func (g Guard) checkHost(ctx context.Context, host string) error {
	if addr, err := netip.ParseAddr(host); err == nil {
		if !IsPublic(addr) {
			return ErrNotPublic
		}
		return nil
	}
	// Not an address, so a name: brackets and zones have no place in one. (Trimming brackets
	// here once turned the zoned address "::%]" into the non-address "::%", then resolved as
	// a name.)
	if strings.ContainsAny(host, "[]%") {
		return fmt.Errorf("host %q is neither an address nor a host name", host)
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return ErrNotPublic
	}
	resolver := g.Resolver
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	addrs, err := resolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return fmt.Errorf("host %s does not resolve", host)
	}
	for _, a := range addrs {
		if !IsPublic(a) {
			return ErrNotPublic
		}
	}
	return nil
}

// DialControl refuses, at connect time, connections to non-public addresses: it closes the
// DNS-rebinding gap between checking a URL and using it. Use it as net.Dialer.Control.
func (g Guard) DialControl(_, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || !IsPublic(addr) {
		return fmt.Errorf("connection to %s refused: %w", host, ErrNotPublic)
	}
	return nil
}
