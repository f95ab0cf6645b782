package netguard_test

import (
	"context"
	"encoding/binary"
	"hash/fnv"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/wagateway/gateway/internal/netguard"
)

// notGlobal are the ranges of the IANA special-purpose address registries that are not
// globally reachable, written out independently of netguard's own list so that the fuzz
// targets check one against the other.
var notGlobal = func() []netip.Prefix {
	var out []netip.Prefix
	for _, p := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/96",          // unspecified, loopback and the deprecated IPv4-compatible addresses
		"64:ff9b::/96",   // NAT64
		"64:ff9b:1::/48", // local-use NAT64 (RFC 8215): reaches the operator's IPv4 space
		"100::/64",       // discard
		"2001::/23",      // IETF protocol assignments: Teredo, benchmarking, ORCHID
		"2001:db8::/32",  // documentation
		"fc00::/7",       // unique local
		"fe80::/10",      // link-local
		"fec0::/10",      // site-local
		"ff00::/8",       // multicast
	} {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}()

// sixToFour is 2002::/16: a 6to4 address carries an IPv4 address in bits 16–47, which a
// host with a 6to4 tunnel reaches over IPv4.
var sixToFour = netip.MustParsePrefix("2002::/16")

// reachesPrivate reports whether a connection to addr may end up on a non-global address,
// directly or through an IPv4 address embedded in it.
func reachesPrivate(addr netip.Addr) bool {
	addr = addr.WithZone("")
	if addr.Is4In6() {
		return reachesPrivate(addr.Unmap())
	}
	for _, p := range notGlobal {
		if p.Contains(addr) {
			return true
		}
	}
	if sixToFour.Contains(addr) {
		b := addr.As16()
		return reachesPrivate(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	return false
}

// FuzzIsPublic: no address that may reach a private network is called public, and an IPv4
// address and its IPv4-mapped IPv6 form are judged alike.
func FuzzIsPublic(f *testing.F) {
	for _, seed := range []string{
		"8.8.8.8", "10.0.0.1", "127.0.0.1", "169.254.169.254", "100.64.0.1", "::1", "::ffff:10.0.0.1",
		"64:ff9b::a00:1", "64:ff9b:1::a00:1", "::a00:1", "2002:a00:1::1", "2002:808:808::1",
		"2001:0:4136:e378:8000:63bf:3fff:fdd2", "2606:4700:4700::1111", "fe80::1", "ff02::1",
	} {
		f.Add(netip.MustParseAddr(seed).AsSlice())
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		addr, ok := netip.AddrFromSlice(raw)
		if !ok {
			return
		}
		public := netguard.IsPublic(addr)
		if public && reachesPrivate(addr) {
			t.Fatalf("IsPublic(%s) = true, but it reaches a non-global address", addr)
		}
		if addr.Is4() && netguard.IsPublic(netip.AddrFrom16(addr.As16())) != public {
			t.Fatalf("IsPublic(%s) differs from IsPublic of its IPv4-mapped form", addr)
		}
	})
}

// poolAddrs are what the fuzz resolver answers names with: a name may resolve to a public or
// a private address, or to both (DNS rebinding).
var poolAddrs = addrs("93.184.216.34", "10.0.0.5", "127.0.0.1", "169.254.169.254", "2606:4700:4700::1111",
	"fd00:ec2::254", "::ffff:192.168.1.1", "64:ff9b:1::a00:1", "2002:a00:1::1", "8.8.8.8")

// hashResolver answers like a system resolver: a name that reads as an IPv4 address in the
// legacy inet_aton forms (127.1, 0x7f.0.0.1, 2130706433) is that address; any other name gets
// one or two pool addresses chosen by its hash.
type hashResolver struct{ asked []string }

func (r *hashResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.asked = append(r.asked, host)
	if addr, ok := inetAton(strings.TrimSuffix(host, ".")); ok {
		return []netip.Addr{addr}, nil
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(host))
	n := h.Sum32()
	out := []netip.Addr{poolAddrs[n%uint32(len(poolAddrs))]}
	if n&0x100 != 0 {
		out = append(out, poolAddrs[(n>>9)%uint32(len(poolAddrs))])
	}
	return out, nil
}

// inetAton parses the IPv4 forms of C's inet_aton: one to four parts, each decimal, octal
// (leading 0) or hex (0x), the last filling the remaining bytes.
func inetAton(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if s == "" || len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals []uint64
	for _, p := range parts {
		base, digits := 10, p
		switch {
		case len(p) > 1 && (p[:2] == "0x" || p[:2] == "0X"):
			base, digits = 16, p[2:]
		case len(p) > 1 && p[0] == '0':
			base, digits = 8, p[1:]
		}
		if digits == "" && base != 16 {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(digits, base, 32)
		if err != nil && digits != "" {
			return netip.Addr{}, false
		}
		vals = append(vals, v)
	}
	var out uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
		out |= v << (8 * (3 - i))
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(out|last))
	return netip.AddrFrom4(b), true
}

// FuzzCheckURL: an accepted URL is http or https without credentials, names the host that was
// checked (parsing its text again gives the same host), and neither that host, read as an
// address, nor anything its name resolves to may reach a private network.
func FuzzCheckURL(f *testing.F) {
	for _, seed := range []string{
		"https://93.184.216.34/a.jpg", "http://cdn.example.com/a.jpg", "http://127.0.0.1/", "http://[::1]/",
		"http://[::ffff:127.0.0.1]/", "http://[fe80::1%25eth0]/", "http://169.254.169.254/latest/meta-data/",
		"http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/", "http://localhost./",
		"http://LOCALHOST/", "http://a.localhost/", "http://[64:ff9b:1::a00:1]/", "http://[::a00:1]/",
		"http://[2002:a00:1::1]/", "http://[2001:0:4136:e378::1]/", "https://user:pw@93.184.216.34/",
		"http://93.184.216.34@127.0.0.1/", "http://127.0.0.1#@93.184.216.34/", "http://127.0.0.1\\@93.184.216.34/",
		" http://8.8.8.8/ ", "HTTP://8.8.8.8/", "http://8.8.8.8:99999/", "http:8.8.8.8", "//8.8.8.8/",
		"http://%31%32%37.0.0.1/", "http://[::ffff:a00:1]:80/", "http://0/", "http://[::]/",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r := &hashResolver{}
		u, err := netguard.Guard{Resolver: r}.CheckURL(context.Background(), raw)
		if err != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("CheckURL(%q) accepted scheme %q", raw, u.Scheme)
		}
		if u.User != nil {
			t.Fatalf("CheckURL(%q) accepted credentials", raw)
		}
		host := u.Hostname()
		again, err := url.Parse(u.String())
		if err != nil || again.Hostname() != host {
			t.Fatalf("CheckURL(%q) checked host %q, but its text %q reads as host %v (%v)", raw, host, u, again, err)
		}
		if addr, err := netip.ParseAddr(host); err == nil && reachesPrivate(addr) {
			t.Fatalf("CheckURL(%q) accepted the private address %s", raw, addr)
		}
		if addr, ok := inetAton(strings.TrimSuffix(host, ".")); ok && reachesPrivate(addr) {
			t.Fatalf("CheckURL(%q) accepted host %q, which a system resolver reads as %s", raw, host, addr)
		}
		for _, name := range r.asked {
			answers, _ := (&hashResolver{}).LookupNetIP(context.Background(), "ip", name)
			for _, a := range answers {
				if reachesPrivate(a) {
					t.Fatalf("CheckURL(%q) accepted %q, which resolves to the private address %s", raw, name, a)
				}
			}
		}
	})
}
