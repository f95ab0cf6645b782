package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/workerkit/simengine"
)

// faultsBody is the JSON of POST /admin/faults; absent fields keep their value.
type faultsBody struct {
	Latency   *duration `json:"latency,omitempty"`
	FailSends *bool     `json:"failSends,omitempty"`
	Hang      *bool     `json:"hang,omitempty"`
}

// faultsView is how the faults are shown.
type faultsView struct {
	Latency   string `json:"latency"`
	FailSends bool   `json:"failSends"`
	Hang      bool   `json:"hang"`
}

func viewFaults(f simengine.Faults) faultsView {
	return faultsView{Latency: f.Latency.String(), FailSends: f.FailSends, Hang: f.Hang}
}

// duration decodes "200ms" or a number of milliseconds.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	s := strings.TrimSpace(string(b))
	if unquoted, err := strconv.Unquote(s); err == nil {
		parsed, err := time.ParseDuration(unquoted)
		if err != nil {
			return fmt.Errorf("latency %q is not a duration like 200ms", unquoted)
		}
		*d = duration(parsed)
		return nil
	}
	ms, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("latency %s is neither a duration nor milliseconds", s)
	}
	*d = duration(ms * float64(time.Millisecond))
	return nil
}

// newAdmin returns the admin routes, served by workerkit under /admin behind the bearer.
// Closing crash makes the worker die at once.
func newAdmin(engine *simengine.Engine, crash chan<- struct{}, logger *slog.Logger) http.Handler {
	var dieOnce sync.Once
	r := chi.NewRouter()
	r.Get("/faults", func(w http.ResponseWriter, _ *http.Request) {
		respond(w, http.StatusOK, viewFaults(engine.Faults()))
	})
	r.Post("/faults", func(w http.ResponseWriter, r *http.Request) {
		var body faultsBody
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
		if err := dec.Decode(&body); err != nil {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", err.Error())
			return
		}
		f := engine.Faults()
		if body.Latency != nil {
			if *body.Latency < 0 {
				writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "latency must not be negative")
				return
			}
			f.Latency = time.Duration(*body.Latency)
		}
		if body.FailSends != nil {
			f.FailSends = *body.FailSends
		}
		if body.Hang != nil {
			f.Hang = *body.Hang
		}
		engine.SetFaults(f)
		respond(w, http.StatusOK, viewFaults(f))
	})
	r.Post("/die", func(w http.ResponseWriter, _ *http.Request) {
		logger.Warn("dying on request (/admin/die)")
		respond(w, http.StatusAccepted, map[string]string{"message": "dying now, without unregistering"})
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		dieOnce.Do(func() { close(crash) })
	})
	r.Get("/stats", func(w http.ResponseWriter, _ *http.Request) {
		respond(w, http.StatusOK, struct {
			simengine.Stats
			Faults faultsView `json:"faults"`
		}{engine.Stats(), viewFaults(engine.Faults())})
	})
	return r
}

func respond(w http.ResponseWriter, status int, data any) {
	writeJSON(w, status, protocol.Envelope[any]{Success: true, Timestamp: time.Now().UTC().Format(time.RFC3339Nano), Data: data})
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{
		"success":   false,
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano),
		"error":     map[string]string{"code": code, "message": message},
	})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
