package netguard_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/wagateway/gateway/internal/netguard"
)

func TestIsPublic(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"10.0.0.1", false},
		{"10.255.255.255", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.15.255.255", true},
		{"172.32.0.1", true},
		{"192.168.0.1", false},
		{"192.168.255.255", false},
		{"169.254.169.254", false},
		{"169.254.0.1", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"100.128.0.1", true},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"192.0.2.10", false},
		{"198.18.0.1", false},
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"93.184.216.34", true},
		{"::1", false},
		{"::", false},
		{"fc00::1", false},
		{"fd00:ec2::254", false},
		{"fe80::1", false},
		{"fec0::1", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"64:ff9b::a00:1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:8.8.8.8", true},
		// Found by FuzzIsPublic and FuzzCheckURL: IPv4 in disguise, tunnels, and zones.
		{"::a00:1", false},
		{"64:ff9b:1::a00:1", false},
		{"2001:0:4136:e378::1", false},
		{"2002:a00:1::1", false},
		{"2002:808:808::1", true},
		{"fec0::1%eth0", false},
		{"64:ff9b::a00:1%eth0", false},
		{"2606:4700:4700::1111", true},
		{"2001:4860:4860::8888", true},
	} {
		if got := netguard.IsPublic(netip.MustParseAddr(tc.addr)); got != tc.public {
			t.Errorf("IsPublic(%s) = %v, want %v", tc.addr, got, tc.public)
		}
	}
	if netguard.IsPublic(netip.Addr{}) {
		t.Error("the zero address is public")
	}
}

// fakeResolver answers every name with addrs (or err), counting its calls.
type fakeResolver struct {
	addrs []netip.Addr
	err   error
	calls int
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, _ string) ([]netip.Addr, error) {
	r.calls++
	return r.addrs, r.err
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name       string
		url        string
		resolves   []netip.Addr
		resolveErr error
		ok         bool
		private    bool // the refusal is ErrNotPublic
	}{
		{"public IP literal", "https://93.184.216.34/a.jpg", nil, nil, true, false},
		{"public name", "https://cdn.example.com/a.jpg", addrs("93.184.216.34"), nil, true, false},
		{"name resolving to loopback", "http://evil.example.com/a", addrs("127.0.0.1"), nil, false, true},
		{"DNS rebinding: one public and one private answer", "http://rebind.example.com/", addrs("93.184.216.34", "10.0.0.5"), nil, false, true},
		{"name resolving to metadata", "http://metadata.example.com/", addrs("169.254.169.254"), nil, false, true},
		{"name resolving to IPv4-mapped private", "http://mapped.example.com/", addrs("::ffff:192.168.1.1"), nil, false, true},
		{"name that does not resolve", "http://nowhere.example.com/", nil, errors.New("no such host"), false, false},
		{"name resolving to nothing", "http://empty.example.com/", []netip.Addr{}, nil, false, false},
		{"loopback literal", "http://127.0.0.1:8080/", nil, nil, false, true},
		{"IPv6 loopback literal", "http://[::1]/", nil, nil, false, true},
		{"metadata literal", "http://169.254.169.254/latest/meta-data/", nil, nil, false, true},
		{"localhost", "http://localhost/", nil, nil, false, true},
		{"a .localhost name", "http://app.LOCALHOST/", nil, nil, false, true},
		{"ftp", "ftp://93.184.216.34/a", nil, nil, false, false},
		{"file", "file:///etc/passwd", nil, nil, false, false},
		{"no host", "https:///a.jpg", nil, nil, false, false},
		{"not a URL", "a.jpg", nil, nil, false, false},
		{"credentials", "https://user:pw@93.184.216.34/", nil, nil, false, false},
		{"garbage", "http://[::1", nil, nil, false, false},
	} {
		r := &fakeResolver{addrs: tc.resolves, err: tc.resolveErr}
		u, err := netguard.Guard{Resolver: r}.CheckURL(ctx, tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("%s: CheckURL(%q) = %v, %v; want ok %v", tc.name, tc.url, u, err, tc.ok)
			continue
		}
		if !tc.ok && errors.Is(err, netguard.ErrNotPublic) != tc.private {
			t.Errorf("%s: error %v, want ErrNotPublic %v", tc.name, err, tc.private)
		}
		if tc.ok && u.String() != tc.url {
			t.Errorf("%s: URL %q, want %q", tc.name, u, tc.url)
		}
	}
}

func TestCheckURL_AllowPrivate_SkipsTheAddressCheckButNotTheScheme(t *testing.T) {
	t.Parallel()
	r := &fakeResolver{addrs: addrs("10.0.0.1")}
	g := netguard.Guard{AllowPrivate: true, Resolver: r}
	for _, ok := range []string{"http://127.0.0.1:9/a", "http://localhost/a", "http://internal.example.com/a", "https://[::1]/"} {
		if _, err := g.CheckURL(context.Background(), ok); err != nil {
			t.Errorf("CheckURL(%q) with AllowPrivate = %v", ok, err)
		}
	}
	if r.calls != 0 {
		t.Errorf("AllowPrivate still resolved names %d times", r.calls)
	}
	for _, bad := range []string{"ftp://127.0.0.1/a", "file:///etc/passwd", "http://u:p@127.0.0.1/"} {
		if _, err := g.CheckURL(context.Background(), bad); err == nil {
			t.Errorf("CheckURL(%q) with AllowPrivate accepted it", bad)
		}
	}
}

func TestDialControl_RefusesPrivateAddressesAtConnectTime(t *testing.T) {
	t.Parallel()
	g := netguard.Guard{}
	for address, ok := range map[string]bool{
		"93.184.216.34:443": true, "[2606:4700:4700::1111]:443": true,
		"127.0.0.1:80": false, "10.1.2.3:443": false, "169.254.169.254:80": false, "[::1]:80": false,
		"[::ffff:192.168.0.1]:80": false, "[fe80::1]:80": false, "no-port": false, "name.example.com:80": false,
	} {
		err := g.DialControl("tcp", address, nil)
		if (err == nil) != ok {
			t.Errorf("DialControl(%s) = %v, want allowed %v", address, err, ok)
		}
		if !ok && address != "no-port" && !errors.Is(err, netguard.ErrNotPublic) {
			t.Errorf("DialControl(%s) = %v, want ErrNotPublic", address, err)
		}
	}
	if err := (netguard.Guard{AllowPrivate: true}).DialControl("tcp", "127.0.0.1:80", nil); err != nil {
		t.Errorf("AllowPrivate DialControl = %v", err)
	}
}

// An HTTP client dialing through DialControl cannot reach a loopback server, whatever name
// or redirect led it there; with AllowPrivate it can.
func TestDialControl_InAnHTTPClient_BlocksLoopback(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret")) }))
	t.Cleanup(srv.Close)
	client := func(g netguard.Guard) *http.Client {
		return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			DialContext: (&net.Dialer{Control: g.DialControl}).DialContext,
		}}
	}
	_, err := client(netguard.Guard{}).Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), netguard.ErrNotPublic.Error()) {
		t.Fatalf("GET %s through the guard = %v, want refused as not public", srv.URL, err)
	}
	res, err := client(netguard.Guard{AllowPrivate: true}).Get(srv.URL)
	if err != nil {
		t.Fatalf("GET with AllowPrivate: %v", err)
	}
	_ = res.Body.Close()
}
