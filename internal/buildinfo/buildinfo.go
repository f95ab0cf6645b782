// Package buildinfo carries the version stamped into the binary at link time.
package buildinfo

// Set with -ldflags "-X github.com/wagateway/gateway/internal/buildinfo.Version=1.2.3 ...".
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)
