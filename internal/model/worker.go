package model

import "time"

// Worker is a process that holds WhatsApp connections and runs the sessions placed on it.
type Worker struct {
	ID                  string            `json:"id"`
	Endpoint            string            `json:"endpoint"`
	Status              WorkerStatus      `json:"status"`
	MaxSessions         int               `json:"maxSessions"`
	CPUUsage            *float64          `json:"cpuUsage"`
	MemoryUsage         *float64          `json:"memoryUsage"`
	Version             *string           `json:"version"`
	Environment         WorkerEnvironment `json:"environment"`
	Description         *string           `json:"description"`
	TokenHash           *string           `json:"-"`
	LastHeartbeat       *time.Time        `json:"lastHeartbeat"`
	ConsecutiveFailures int               `json:"consecutiveFailures"`
	CreatedAt           time.Time         `json:"createdAt"`
	UpdatedAt           time.Time         `json:"updatedAt"`
	// SessionCount is derived from the sessions placed on the worker, never stored.
	SessionCount int `json:"sessionCount"`
	// ActiveSessionCount counts its CONNECTED sessions.
	ActiveSessionCount int `json:"activeSessionCount"`
}

// WorkerEnvironments lists every worker environment.
var WorkerEnvironments = []WorkerEnvironment{EnvDevelopment, EnvStaging, EnvTesting, EnvProduction}

// WorkerStatuses lists every worker status.
var WorkerStatuses = []WorkerStatus{WorkerOnline, WorkerOffline, WorkerMaintenance}
