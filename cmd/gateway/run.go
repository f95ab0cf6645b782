package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/wagateway/gateway/internal/app"
	"github.com/wagateway/gateway/internal/buildinfo"
	"github.com/wagateway/gateway/internal/config"
	"github.com/wagateway/gateway/internal/store"
)

const usage = `usage: gateway [serve | migrate up|down|status|redo | seed | version | healthcheck]`

// run is the whole program; main only supplies the process's context, arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	command := "serve"
	if len(args) > 0 {
		command, args = args[0], args[1:]
	}
	switch command {
	case "version", "-v", "--version":
		_, err := fmt.Fprintf(stdout, "gateway %s (commit %s, built %s)\n", buildinfo.Version, buildinfo.Commit, buildinfo.Date)
		return err
	case "help", "-h", "--help":
		_, err := fmt.Fprintln(stdout, usage)
		return err
	}

	getenv, err := config.WithDotenv(getenv, ".env")
	if err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	switch command {
	case "serve":
		return serve(ctx, cfg, stdout)
	case "migrate":
		return migrate(ctx, cfg, args, stdout)
	case "seed":
		return seed(ctx, cfg, stdout)
	case "healthcheck":
		return healthcheck(ctx, cfg)
	default:
		return fmt.Errorf("unknown command %q\n%s", command, usage)
	}
}

func serve(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	app.SetProcessDefaults(cfg)
	logger, closeLog := app.NewLogger(cfg, stdout)
	defer closeLog.Close()

	a, err := app.New(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", net.JoinHostPort("", strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen on port %d: %w", cfg.Port, err)
	}
	return a.Run(ctx, ln)
}

func migrate(ctx context.Context, cfg *config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: gateway migrate up|down|status|redo")
	}
	logger, closeLog := app.NewLogger(cfg, stdout)
	defer closeLog.Close()
	if err := store.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
		logger.Warn("could not ensure the database exists", "err", err)
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	return app.Migrate(ctx, db, logger, func(m *store.Migrator) error {
		switch args[0] {
		case "up":
			return m.Up(ctx)
		case "down":
			return m.Down(ctx)
		case "redo":
			return m.Redo(ctx)
		case "status":
			return m.WriteStatus(ctx, stdout)
		default:
			return fmt.Errorf("unknown migrate command %q (want up, down, status or redo)", args[0])
		}
	})
}

// healthcheck lets a distroless container probe itself without curl.
func healthcheck(ctx context.Context, cfg *config.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/health", cfg.Port), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check: status %d", resp.StatusCode)
	}
	return nil
}
