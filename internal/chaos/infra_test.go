//go:build chaos

package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// freePort asks the kernel for a port nobody listens on.
func freePort() (int, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitFor polls cond every 20 ms until it holds or the deadline passes.
func waitFor(ctx context.Context, within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// postgresServer is a PostgreSQL cluster of the suite's own, in a temporary directory.
type postgresServer struct {
	bin  string
	dir  string
	data string
	port int
	cred *syscall.Credential // the postgres user when the suite runs as root
}

func pgBinDir() string {
	if v := os.Getenv("CHAOS_PG_BIN"); v != "" {
		return v
	}
	return "/usr/lib/postgresql/15/bin"
}

// startPostgres creates a cluster (trust authentication, no fsync: the suite kills the server,
// never the machine) and starts it on a spare port.
func startPostgres(ctx context.Context) (*postgresServer, error) {
	bin := pgBinDir()
	if _, err := os.Stat(filepath.Join(bin, "initdb")); err != nil {
		return nil, fmt.Errorf("initdb not found in %s (set CHAOS_PG_BIN): %w", bin, err)
	}
	dir, err := os.MkdirTemp("", "chaos-pg-*")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	p := &postgresServer{bin: bin, dir: dir, data: filepath.Join(dir, "data"), port: port}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root needs a postgres user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	if out, err := p.run(ctx, "initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
		"--no-sync", "--no-instructions"); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"+
		"max_connections = 300\nfsync = off\nfull_page_writes = off\nshared_buffers = 64MB\n", port, dir)
	f, err := os.OpenFile(filepath.Join(p.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(conf); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *postgresServer) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, tool), args...)
	cmd.Dir = p.dir
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	return cmd.CombinedOutput()
}

// Start starts the server and waits until it accepts connections.
func (p *postgresServer) Start(ctx context.Context) error {
	if out, err := p.run(ctx, "pg_ctl", "-D", p.data, "-l", filepath.Join(p.dir, "server.log"), "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	return nil
}

// Stop stops the server: mode "immediate" is a crash (connections cut, recovery at the next
// start), "fast" a clean shutdown.
func (p *postgresServer) Stop(ctx context.Context, mode string) error {
	if out, err := p.run(ctx, "pg_ctl", "-D", p.data, "-m", mode, "-w", "-t", "60", "stop"); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// Close stops the server and removes its directory.
func (p *postgresServer) Close() {
	_ = p.Stop(context.Background(), "immediate")
	_ = os.RemoveAll(p.dir)
}

// URL is the connection URL of database name.
func (p *postgresServer) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, name)
}

// createDatabase creates an empty database (the gateway migrates it at start).
func (p *postgresServer) createDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	return err
}

// redisServer is a Redis of the suite's own: no persistence, so that a stop loses everything
// as the data model allows.
type redisServer struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

func startRedis(ctx context.Context) (*redisServer, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server is not on the PATH")
	}
	dir, err := os.MkdirTemp("", "chaos-redis-*")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	r := &redisServer{dir: dir, port: port}
	return r, r.Start(ctx)
}

// Start starts redis-server on the server's port and waits until it answers PING.
func (r *redisServer) Start(ctx context.Context) error {
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", //nolint:gosec // the suite's own server
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--logfile", filepath.Join(r.dir, "redis.log"))
	r.cmd.Dir = r.dir
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	r.done = make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	client := r.Client()
	defer client.Close()
	if !waitFor(ctx, 10*time.Second, func() bool { return client.Ping(ctx).Err() == nil }) {
		return errors.New("redis-server did not answer PING within 10 s")
	}
	return nil
}

// Kill stops the server at once (SIGKILL) and waits for it to exit.
func (r *redisServer) Kill() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.done
}

// Close kills the server and removes its directory.
func (r *redisServer) Close() {
	r.Kill()
	_ = os.RemoveAll(r.dir)
}

// URL is the server's redis:// URL.
func (r *redisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

// Client returns a new client of the server.
func (r *redisServer) Client() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(r.port), MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
}

// sanitizeName turns a test name into a database or key-prefix name.
func sanitizeName(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, c := range s {
		if (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// listen listens on a TCP address.
func listen(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	return lc.Listen(context.Background(), "tcp", addr)
}
