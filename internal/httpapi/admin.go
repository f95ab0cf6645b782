package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/redis/go-redis/v9"

	"github.com/wagateway/gateway/internal/auth"
	"github.com/wagateway/gateway/internal/buildinfo"
	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

// requireOpen answers 503 maintenance to customer traffic while maintenance mode is on;
// administrators, health, admin and worker routes are not affected.
func (s *Server) requireOpen(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := auth.PrincipalFrom(r.Context()); p != nil && p.IsAdmin() {
			next.ServeHTTP(w, r)
			return
		}
		if m := s.maintenance.Current(r.Context()); m.Enabled {
			w.Header().Set("Retry-After", "300")
			respondError(w, r, model.Errorf(model.KindMaintenance, "%s", m.Message))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requireOpenForChanges applies requireOpen to requests that change something.
func (s *Server) requireOpenForChanges(next http.Handler) http.Handler {
	open := s.requireOpen(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		open.ServeHTTP(w, r)
	})
}

type maintenanceRequest struct {
	Enabled *bool  `json:"enabled" validate:"required"`
	Message string `json:"message" validate:"max=500"`
}

// @Summary Switch maintenance mode
// @Description While on, customer traffic (Messaging API, and changes to sessions by non-administrators) is answered 503 maintenance with the message; administrators, health, admin and worker routes keep working.
// @Tags Admin
// @ID setMaintenance
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param body body maintenanceRequest true "On or off, and the message shown to clients"
// @Success 200 {object} envelope{data=store.Maintenance}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/admin/system/maintenance [post]
func (s *Server) setMaintenance(w http.ResponseWriter, r *http.Request) {
	var req maintenanceRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	m, err := s.maintenance.Set(r.Context(), principal(r).UserID, *req.Enabled, req.Message)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Maintenance mode updated", m)
}

// @Summary Admin dashboard
// @Description Totals, worker fleet, sessions, the last 24 hours of messages, and alerts (overloaded or OFFLINE workers, disabled webhooks).
// @Tags Admin
// @ID adminDashboard
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=dashboardData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/admin/dashboard [get]
func (s *Server) adminDashboard(w http.ResponseWriter, r *http.Request) {
	d, err := store.GetDashboard(r.Context(), s.db)
	if err != nil {
		respondError(w, r, err)
		return
	}
	alerts, err := store.ListAlerts(r.Context(), s.db)
	if err != nil {
		respondError(w, r, err)
		return
	}
	connected := d.SessionsByStatus[string(model.SessionConnected)]
	placed := 0
	for _, st := range []model.SessionStatus{model.SessionConnected, model.SessionInit, model.SessionQRRequired,
		model.SessionReconnecting, model.SessionError} {
		placed += d.SessionsByStatus[string(st)]
	}
	respond(w, http.StatusOK, "", map[string]any{
		"overview": map[string]any{"totalUsers": d.TotalUsers, "totalSessions": d.TotalSessions,
			"totalWorkers": d.TotalWorkers, "totalMessages": d.TotalMessages,
			"systemUptime": time.Since(s.health.Started).Seconds()},
		"workers": map[string]any{"online": d.WorkersOnline, "offline": d.WorkersOffline, "maintenance": d.WorkersMaint,
			"avgCpuUsage": d.AvgCPU, "avgMemoryUsage": d.AvgMemory, "totalCapacity": d.TotalCapacity,
			"usedCapacity": d.UsedCapacity},
		"sessions": map[string]any{"connected": connected,
			"disconnected": d.SessionsByStatus[string(model.SessionDisconnected)],
			"initializing": d.SessionsByStatus[string(model.SessionInit)] + d.SessionsByStatus[string(model.SessionQRRequired)],
			"successRate":  percentOf(connected, placed)},
		"messages": map[string]any{"last24h": d.Messages24h, "successRate": percentOf(d.Delivered24h, d.Delivered24h+d.Failed24h),
			"avgResponseTime": d.AvgSendSeconds * 1000},
		"alerts": alerts,
	})
}

func percentOf(part, whole int) float64 {
	if whole == 0 {
		return 0
	}
	return float64(part) / float64(whole) * 100
}

var analyticsPeriods = map[string]time.Duration{"1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// @Summary Analytics
// @Description Users, sessions, messages and workers over the period; ?metric= keeps only that section.
// @Tags Admin
// @ID adminAnalytics
// @Produce json
// @Security BearerJWT
// @Param period query string false "Period" Enums(1h, 24h, 7d, 30d) default(24h)
// @Param metric query string false "Only this section" Enums(users, sessions, messages, workers)
// @Success 200 {object} envelope{data=analyticsData}
// @Failure 400 {object} errorEnvelope "validation_error: a query parameter is malformed or out of range (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/admin/analytics [get]
func (s *Server) adminAnalytics(w http.ResponseWriter, r *http.Request) {
	period := r.URL.Query().Get("period")
	if period == "" {
		period = "24h"
	}
	span, ok := analyticsPeriods[period]
	if !ok {
		respondError(w, r, model.ValidationError(model.FieldError{Field: "period", Message: "must be one of 1h, 24h, 7d, 30d"}))
		return
	}
	metric := r.URL.Query().Get("metric")
	sections := map[string]bool{"users": true, "sessions": true, "messages": true, "workers": true}
	if metric != "" && !sections[metric] {
		respondError(w, r, model.ValidationError(model.FieldError{Field: "metric", Message: "must be one of users, sessions, messages, workers"}))
		return
	}
	a, err := store.GetAnalytics(r.Context(), s.db, time.Now().Add(-span))
	if err != nil {
		respondError(w, r, err)
		return
	}
	data := map[string]any{
		"users": map[string]any{"total": a.UsersTotal, "active": a.UsersActive, "newRegistrations": a.UsersNew, "byTier": a.UsersByTier},
		"sessions": map[string]any{"total": a.SessionsTotal, "created": a.SessionsCreated, "byStatus": a.SessionsByStatus,
			"deleted": nil, "migrated": nil},
		"messages": map[string]any{"total": a.MessagesTotal, "sent": a.Sent, "failed": a.Failed, "byType": a.MessagesByType},
		"workers":  map[string]any{"total": a.WorkersTotal, "online": a.WorkersOnline, "avgLoad": a.AvgLoad, "totalMessages": a.WorkerMessages},
	}
	if metric != "" {
		data = map[string]any{metric: data[metric]}
	}
	data["period"] = period
	respond(w, http.StatusOK, "", data)
}

// adminListSessions lists every user's sessions with status, user and worker filters.
//
// @Summary List every session
// @Description Sessions of every user, newest first, with filters.
// @Tags Admin
// @ID adminListSessions
// @Produce json
// @Security BearerJWT
// @Param status query string false "Status" Enums(INIT, QR_REQUIRED, CONNECTED, DISCONNECTED, RECONNECTING, ERROR)
// @Param userId query string false "Only this user's sessions" format(uuid)
// @Param workerId query string false "Only sessions placed on this worker"
// @Param limit query int false "Items per page" minimum(1) maximum(100) default(20)
// @Param page query int false "Page number, from 1 (or use offset)" minimum(1)
// @Param offset query int false "Items to skip, from 0 (instead of page)" minimum(0)
// @Success 200 {object} envelope{data=sessionListData}
// @Failure 400 {object} errorEnvelope "validation_error: a query parameter is malformed or out of range (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/admin/sessions [get]
func (s *Server) adminListSessions(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	var bad []model.FieldError
	status := queryEnum(r, "status", model.SessionStatuses, &bad)
	filter := store.SessionFilter{Status: status}
	if u := r.URL.Query().Get("userId"); u != "" {
		if !isUUID(u) {
			bad = append(bad, model.FieldError{Field: "userId", Message: "must be a UUID"})
		} else {
			filter.UserID = &u
		}
	}
	if wk := r.URL.Query().Get("workerId"); wk != "" {
		filter.WorkerID = &wk
	}
	if err != nil || len(bad) > 0 {
		respondError(w, r, mergeValidation(err, bad))
		return
	}
	filter.Limit, filter.Offset = p.Limit, p.Offset
	items, total, err := store.ListSessions(r.Context(), s.db, filter)
	if err != nil {
		respondError(w, r, err)
		return
	}
	views := make([]sessionListView, 0, len(items))
	for _, it := range items {
		views = append(views, viewSessionListItem(it))
	}
	respond(w, http.StatusOK, "", map[string]any{"sessions": views, "pagination": p.describe(total)})
}

type migrateRequest struct {
	TargetWorkerID string `json:"targetWorkerId" validate:"max=100"`
}

// @Summary Move a session to another worker
// @Description Tells the old worker to stop the session (credentials kept) and starts it on targetWorkerId, or on the best other worker when omitted.
// @Tags Admin
// @ID adminMigrateSession
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Param body body migrateRequest false "The target worker (optional)"
// @Success 200 {object} envelope{data=service.MigrateResult}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 404 {object} errorEnvelope "not_found: no such session or target worker"
// @Failure 409 {object} errorEnvelope "conflict: the session already runs on the target worker"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 502 {object} errorEnvelope "worker_error: the worker answered with an error; its message is passed on"
// @Failure 503 {object} errorEnvelope "connectivity_error: no other worker has free capacity, or the target is unreachable"
// @Router /api/v1/admin/sessions/{id}/migrate [post]
func (s *Server) adminMigrateSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	var req migrateRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.sessions.Migrate(r.Context(), id, req.TargetWorkerID)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Session migrated", res)
}

// @Summary System health
// @Description The readiness report plus process figures (goroutines, memory, GC) and connection pools. 503 with success false when Postgres or Redis does not answer.
// @Tags Admin
// @ID adminSystemHealth
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=systemHealthData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Failure 503 {object} envelope{data=systemHealthData} "Postgres or Redis does not answer; success is false"
// @Router /api/v1/admin/system/health [get]
func (s *Server) adminSystemHealth(w http.ResponseWriter, r *http.Request) {
	report := s.health.Check(r.Context())
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	db := s.db.Stat()
	process := map[string]any{
		"goroutines": runtime.NumGoroutine(), "heapBytes": mem.HeapAlloc, "sysBytes": mem.Sys, "numGC": mem.NumGC,
		"uptime": time.Since(s.health.Started).Seconds(), "version": buildinfo.Version, "commit": buildinfo.Commit,
		"goVersion": runtime.Version(),
	}
	pools := map[string]any{"database": map[string]any{"total": db.TotalConns(), "idle": db.IdleConns(),
		"acquired": db.AcquiredConns(), "max": db.MaxConns()}}
	if pooler, ok := s.rdb.(interface{ PoolStats() *redis.PoolStats }); ok {
		st := pooler.PoolStats()
		pools["redis"] = map[string]any{"total": st.TotalConns, "idle": st.IdleConns, "timeouts": st.Timeouts}
	}
	status := http.StatusOK
	if !report.Healthy() {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, envelope{Success: report.Healthy(), Timestamp: now(),
		Data: map[string]any{"health": report, "process": process, "pools": pools}})
}

// @Summary System log
// @Description Important events (not access logs), newest first, with keyset pagination: pass nextCursor as cursor.
// @Tags Admin
// @ID adminSystemLogs
// @Produce json
// @Security BearerJWT
// @Param level query string false "Level" Enums(ERROR, WARN, INFO, DEBUG)
// @Param service query string false "Service (auth, sessions, workers, ...)"
// @Param sessionId query string false "Session"
// @Param workerId query string false "Worker"
// @Param from query string false "From (RFC 3339)" format(date-time)
// @Param to query string false "To (RFC 3339)" format(date-time)
// @Param limit query int false "Entries per page" minimum(1) maximum(500) default(50)
// @Param cursor query string false "nextCursor of the previous page"
// @Success 200 {object} envelope{data=systemLogsData}
// @Failure 400 {object} errorEnvelope "validation_error: a query parameter is malformed or out of range (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/admin/system/logs [get]
func (s *Server) adminSystemLogs(w http.ResponseWriter, r *http.Request) {
	var bad []model.FieldError
	q := r.URL.Query()
	f := store.SystemLogFilter{Limit: 50,
		Level: queryEnum(r, "level", []model.LogLevel{model.LevelError, model.LevelWarn, model.LevelInfo, model.LevelDebug}, &bad)}
	for name, dst := range map[string]**string{"service": &f.Service, "sessionId": &f.SessionID, "workerId": &f.WorkerID} {
		if v := q.Get(name); v != "" {
			*dst = &v
		}
	}
	for name, dst := range map[string]**time.Time{"from": &f.From, "to": &f.To} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				bad = append(bad, model.FieldError{Field: name, Message: "must be an RFC 3339 time"})
				continue
			}
			*dst = &t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			bad = append(bad, model.FieldError{Field: "limit", Message: "must be a whole number from 1 to 500"})
		} else {
			f.Limit = n
		}
	}
	if v := q.Get("cursor"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 1 {
			bad = append(bad, model.FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
		} else {
			f.BeforeID = &id
		}
	}
	if len(bad) > 0 {
		respondError(w, r, model.ValidationError(bad...))
		return
	}
	f.Limit++
	logs, err := store.ListSystemLogs(r.Context(), s.db, f)
	if err != nil {
		respondError(w, r, err)
		return
	}
	var next *string
	if len(logs) == f.Limit {
		logs = logs[:f.Limit-1]
		c := strconv.FormatInt(logs[len(logs)-1].ID, 10)
		next = &c
	}
	if logs == nil {
		logs = []store.SystemLog{}
	}
	respond(w, http.StatusOK, "", map[string]any{"logs": logs, "nextCursor": next})
}

// exportReport streams a report as CSV or JSON in constant memory.
//
// @Summary Export a report
// @Description Streams a report as CSV or a JSON array (as a download), in constant memory. An error after the first row ends the body early instead of an error envelope.
// @Tags Admin
// @ID exportReport
// @Produce text/csv,json
// @Security BearerJWT
// @Param type query string true "Report" Enums(users, sessions, messages, usage)
// @Param format query string false "Format" Enums(csv, json) default(csv)
// @Param from query string false "From (RFC 3339)" format(date-time)
// @Param to query string false "To (RFC 3339)" format(date-time)
// @Success 200 {file} file "The report (Content-Disposition: attachment)"
// @Failure 400 {object} errorEnvelope "validation_error: a query parameter is malformed or out of range (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/admin/reports/export [get]
func (s *Server) exportReport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var bad []model.FieldError
	kind := q.Get("type")
	known := false
	for _, t := range store.ExportTypes {
		known = known || t == kind
	}
	if !known {
		bad = append(bad, model.FieldError{Field: "type", Message: "must be one of users, sessions, messages, usage"})
	}
	format := q.Get("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "json" {
		bad = append(bad, model.FieldError{Field: "format", Message: "must be csv or json"})
	}
	var from, to *time.Time
	for name, dst := range map[string]**time.Time{"from": &from, "to": &to} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				bad = append(bad, model.FieldError{Field: name, Message: "must be an RFC 3339 time"})
				continue
			}
			*dst = &t
		}
	}
	if len(bad) > 0 {
		respondError(w, r, model.ValidationError(bad...))
		return
	}
	// A long export must not be cut by the server's write timeout, nor by the request timeout:
	// its route is mounted outside that (routes.go).
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	filename := fmt.Sprintf("%s-%s.%s", kind, time.Now().UTC().Format("20060102-150405"), format)
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	w.Header().Set("Cache-Control", "no-store")
	started := false
	var err error
	if format == "csv" {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		cw := csv.NewWriter(w)
		err = store.StreamExport(r.Context(), s.db, kind, from, to,
			func(cols []string) error { started = true; return cw.Write(cols) },
			func(values []any) error {
				record := make([]string, len(values))
				for i, v := range values {
					record[i] = csvValue(v)
				}
				if err := cw.Write(record); err != nil {
					return err
				}
				cw.Flush()
				return cw.Error()
			})
		cw.Flush()
	} else {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		var cols []string
		n := 0
		enc := json.NewEncoder(w)
		err = store.StreamExport(r.Context(), s.db, kind, from, to,
			func(c []string) error { cols, started = c, true; _, err := w.Write([]byte("[")); return err },
			func(values []any) error {
				if n > 0 {
					if _, err := w.Write([]byte(",")); err != nil {
						return err
					}
				}
				n++
				row := make(map[string]any, len(cols))
				for i, c := range cols {
					row[c] = values[i]
				}
				return enc.Encode(row)
			})
		if err == nil {
			_, err = w.Write([]byte("]\n"))
		}
	}
	if err != nil {
		if !started {
			respondError(w, r, err)
			return
		}
		// Headers are gone: the truncated body is the signal; the log has the cause.
		loggerFrom(r.Context()).ErrorContext(r.Context(), "export interrupted", "err", err)
	}
}

func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case string:
		return x
	default:
		return fmt.Sprint(x)
	}
}

// @Summary Delete any session
// @Description Deletes a session of any user, like DELETE /sessions/{id}.
// @Tags Admin
// @ID adminDeleteSession
// @Produce json
// @Security BearerJWT
// @Param id path string true "Session ID (3–100 characters: letters, digits, - and _; case-insensitive)"
// @Success 200 {object} envelope{data=deletedSessionData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 404 {object} errorEnvelope "not_found: no such session"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/admin/sessions/{id} [delete]
func (s *Server) adminDeleteSession(w http.ResponseWriter, r *http.Request) {
	id, err := pathSessionID(r)
	if err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.sessions.Delete(r.Context(), principal(r), id); err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Session deleted", map[string]any{"sessionId": chi.URLParam(r, "id"), "deletedAt": time.Now().UTC()})
}
