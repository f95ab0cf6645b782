package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.mau.fi/whatsmeow"

	"github.com/wagateway/gateway/internal/buildinfo"
	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
	"github.com/wagateway/gateway/internal/workerkit/waengine"
	"github.com/wagateway/gateway/internal/workerkit/workerenv"
)

// Engines -engine accepts.
const (
	engineWhatsmeow = "whatsmeow"
	engineSim       = "sim"
)

// options are the worker's settings, from flags over the environment.
type options struct {
	workerenv.Common
	engine string

	// whatsmeow
	databaseURL       string
	deviceName        string
	historySync       bool
	sendInterval      time.Duration
	identicalLimit    int
	reconnectMax      time.Duration
	allowPrivateMedia bool

	// sim
	connectDelay time.Duration
}

// prepareClient lets tests point whatsmeow at a fake WhatsApp server.
var prepareClient func(*whatsmeow.Client)

// run is the whole program; main only supplies the process's context, arguments,
// environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	opts, err := parseOptions(args, getenv, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}

	ln, err := workerenv.Listen(ctx, opts.Port, &opts.Endpoint, &opts.WorkerID, "wa")
	if err != nil {
		return err
	}
	defer ln.Close() // Run closes it too, unless it failed before serving
	logger := workerenv.NewLogger(stdout, opts.LogLevel, "worker").With(
		slog.String("worker_id", opts.WorkerID), slog.String("engine", opts.engine))

	var engine workerkit.Engine
	description := "WhatsApp worker (whatsmeow)"
	switch opts.engine {
	case engineWhatsmeow:
		wa, err := waengine.New(ctx, waengine.Config{
			DatabaseURL:       opts.databaseURL,
			DeviceName:        opts.deviceName,
			HistorySync:       opts.historySync,
			Reconnect:         waengine.ReconnectPolicy{Max: opts.reconnectMax},
			Pacing:            waengine.Pacing{Interval: opts.sendInterval, IdenticalLimit: opts.identicalLimit},
			AllowPrivateMedia: opts.allowPrivateMedia,
			PrepareClient:     prepareClient,
			Logger:            logger,
		})
		if err != nil {
			return err
		}
		defer wa.Close() // after Run: the goodbye reports the sessions it still holds
		engine = wa
	default:
		sim := simengine.New(simengine.Config{ConnectDelay: opts.connectDelay, Logger: logger})
		defer sim.Close()
		engine, description = sim, "Simulated WhatsApp worker (no WhatsApp)"
	}

	cfg := opts.KitConfig(ln, logger, engine)
	cfg.Version, cfg.Description = workerVersion(), description
	return workerkit.Run(ctx, cfg)
}

// workerVersion is the build's version when it is x.y.z, which the backend requires.
func workerVersion() string {
	var major, minor, patch int
	if n, _ := fmt.Sscanf(buildinfo.Version, "v%d.%d.%d", &major, &minor, &patch); n == 3 {
		return fmt.Sprintf("%d.%d.%d", major, minor, patch)
	}
	return workerkit.DefaultVersion
}

func parseOptions(args []string, getenv func(string) string, stdout io.Writer) (options, error) {
	env := workerenv.Reader{Getenv: getenv}
	o := options{
		Common:            workerenv.ReadCommon(&env),
		engine:            env.Str("WORKER_ENGINE", engineWhatsmeow),
		databaseURL:       env.Str("WA_DATABASE_URL", env.Str("DATABASE_URL", "")),
		deviceName:        env.Str("WA_DEVICE_NAME", waengine.DefaultDeviceName),
		historySync:       env.Boolean("WA_HISTORY_SYNC", false),
		sendInterval:      env.Duration("WA_SEND_INTERVAL", waengine.DefaultSendInterval),
		identicalLimit:    env.Integer("WA_IDENTICAL_LIMIT", waengine.DefaultIdenticalLimit),
		reconnectMax:      env.Duration("WA_RECONNECT_MAX", waengine.DefaultReconnectMax),
		allowPrivateMedia: env.Boolean("WA_ALLOW_PRIVATE_MEDIA", false),
		connectDelay:      env.Duration("CONNECT_DELAY", simengine.DefaultConnectDelay),
	}
	if err := errors.Join(env.Errs...); err != nil {
		return o, err
	}

	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stdout)
	o.AddFlags(fs, "wa")
	fs.StringVar(&o.engine, "engine", o.engine, "whatsmeow (real WhatsApp) or sim (simulated sessions, no phone) (env WORKER_ENGINE)")
	fs.StringVar(&o.databaseURL, "database-url", o.databaseURL, "PostgreSQL for WhatsApp credentials, shared by the workers that may take over each other's sessions (env WA_DATABASE_URL, else DATABASE_URL)")
	fs.StringVar(&o.deviceName, "device-name", o.deviceName, "name the phone shows under Linked devices (env WA_DEVICE_NAME)")
	fs.BoolVar(&o.historySync, "history-sync", o.historySync, "let the phone send chat history after linking; off: it can exhaust memory (env WA_HISTORY_SYNC)")
	fs.DurationVar(&o.sendInterval, "send-interval", o.sendInterval, "least gap between two sends of one number, plus jitter; negative: no pacing (env WA_SEND_INTERVAL)")
	fs.IntVar(&o.identicalLimit, "identical-limit", o.identicalLimit, "recipients one content may reach per hour from one number; negative: no cap (env WA_IDENTICAL_LIMIT)")
	fs.DurationVar(&o.reconnectMax, "reconnect-max", o.reconnectMax, "longest wait between reconnect attempts (env WA_RECONNECT_MAX)")
	fs.BoolVar(&o.allowPrivateMedia, "allow-private-media", o.allowPrivateMedia, "let mediaUrl reach private addresses (local testing only) (env WA_ALLOW_PRIVATE_MEDIA)")
	fs.DurationVar(&o.connectDelay, "connect-delay", o.connectDelay, "sim engine: QR shown → connected (env CONNECT_DELAY)")
	if err := o.Parse(fs, args); err != nil {
		return o, err
	}
	switch {
	case o.engine != engineWhatsmeow && o.engine != engineSim:
		return o, fmt.Errorf("engine %q: want %s or %s", o.engine, engineWhatsmeow, engineSim)
	case o.engine == engineWhatsmeow && o.databaseURL == "":
		return o, errors.New("the whatsmeow engine keeps WhatsApp credentials in PostgreSQL: set -database-url (or WA_DATABASE_URL / DATABASE_URL)")
	}
	return o, nil
}
