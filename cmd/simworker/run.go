package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"time"

	"github.com/wagateway/gateway/internal/workerkit"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
	"github.com/wagateway/gateway/internal/workerkit/workerenv"
)

// options are the simworker's settings, from flags over the environment.
type options struct {
	workerenv.Common
	version       string
	connectDelay  time.Duration
	qrInterval    time.Duration
	receiptDelay  time.Duration
	incomingEvery time.Duration
	latency       time.Duration
	failSends     bool
}

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

	ln, err := workerenv.Listen(ctx, opts.Port, &opts.Endpoint, &opts.WorkerID, "sim")
	if err != nil {
		return err
	}
	defer ln.Close() // Run closes it too, unless it failed before serving

	logger := workerenv.NewLogger(stdout, opts.LogLevel, "simworker").With(slog.String("worker_id", opts.WorkerID))
	engine := simengine.New(simengine.Config{
		ConnectDelay:  opts.connectDelay,
		QRInterval:    opts.qrInterval,
		ReceiptDelay:  opts.receiptDelay,
		IncomingEvery: opts.incomingEvery,
		Faults:        simengine.Faults{Latency: opts.latency, FailSends: opts.failSends},
		Logger:        logger,
	})
	defer engine.Close()

	crash := make(chan struct{})
	cfg := opts.KitConfig(ln, logger, engine)
	cfg.Version = opts.version
	cfg.Description = "Simulated WhatsApp worker (simworker, no WhatsApp)"
	cfg.Admin, cfg.Crash = newAdmin(engine, crash, logger), crash
	return workerkit.Run(ctx, cfg)
}

func parseOptions(args []string, getenv func(string) string, stdout io.Writer) (options, error) {
	env := workerenv.Reader{Getenv: getenv}
	o := options{
		Common:        workerenv.ReadCommon(&env),
		version:       env.Str("WORKER_VERSION", workerkit.DefaultVersion),
		connectDelay:  env.Duration("CONNECT_DELAY", simengine.DefaultConnectDelay),
		qrInterval:    env.Duration("QR_INTERVAL", simengine.DefaultQRInterval),
		receiptDelay:  env.Duration("RECEIPT_DELAY", simengine.DefaultReceiptDelay),
		incomingEvery: env.Duration("INCOMING_EVERY", 0),
		latency:       env.Duration("LATENCY", 0),
		failSends:     env.Boolean("FAIL_SENDS", false),
	}
	if err := errors.Join(env.Errs...); err != nil {
		return o, err
	}

	fs := flag.NewFlagSet("simworker", flag.ContinueOnError)
	fs.SetOutput(stdout)
	o.AddFlags(fs, "sim")
	fs.DurationVar(&o.connectDelay, "connect-delay", o.connectDelay, "QR shown → connected; negative: never by itself (env CONNECT_DELAY)")
	fs.DurationVar(&o.qrInterval, "qr-interval", o.qrInterval, "QR renewal while not connected (env QR_INTERVAL)")
	fs.DurationVar(&o.receiptDelay, "receipt-delay", o.receiptDelay, "delay between send, SENT, DELIVERED and READ; negative: no receipts (env RECEIPT_DELAY)")
	fs.DurationVar(&o.incomingEvery, "incoming-every", o.incomingEvery, "an incoming message per connected session this often; 0: never (env INCOMING_EVERY)")
	fs.DurationVar(&o.latency, "latency", o.latency, "latency added to every call (env LATENCY)")
	fs.BoolVar(&o.failSends, "fail-sends", o.failSends, "make every send fail with 500 (env FAIL_SENDS)")
	return o, o.Parse(fs, args)
}

// defaultWorkerID is sim-<hostname>-<port>, short enough for the backend's 50 characters.
func defaultWorkerID(port int) string { return workerenv.DefaultWorkerID("sim", port) }
