package httpapi

import (
	"time"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/protocol"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
)

// The types below exist for the OpenAPI document only: they name the shapes of answers that
// handlers build as maps, so that swag annotations can refer to them (`make docs`). No code
// uses them; keep them in step with the handlers they name.
//
//nolint:unused // referenced from swag annotations, which the compiler cannot see
type (
	// healthAnswer is GET /health (not wrapped in data).
	healthAnswer struct {
		Success     bool   `json:"success" example:"true"`
		Message     string `json:"message" example:"WhatsApp Gateway Backend is running"`
		Timestamp   string `json:"timestamp" format:"date-time"`
		Version     string `json:"version" example:"1.4.0"`
		Environment string `json:"environment" example:"production"`
	}

	// apiHealthData is the data of GET /api/v1/health.
	apiHealthData struct {
		Message     string  `json:"message" example:"WhatsApp Gateway API is healthy"`
		Version     string  `json:"version" example:"v1"`
		Status      string  `json:"status" example:"operational"`
		Uptime      float64 `json:"uptime" example:"3600.5"` // seconds
		Environment string  `json:"environment" example:"production"`
	}

	// tokenPairData is the data of POST /auth/refresh.
	tokenPairData struct {
		Token        string `json:"token"`
		ExpiresIn    string `json:"expiresIn" example:"7d"`
		RefreshToken string `json:"refreshToken"`
	}

	// userData wraps one user (auth/me, users/profile, admin/users/{id}).
	userData struct {
		User userView `json:"user"`
	}

	// userListData is the data of GET /admin/users.
	userListData struct {
		Users      []userView `json:"users"`
		Pagination pagination `json:"pagination"`
	}

	// deletedUserData is the data of DELETE /admin/users/{id}.
	deletedUserData struct {
		UserID string `json:"userId" format:"uuid"`
	}

	// apiKeyListData is the data of GET /users/api-keys.
	apiKeyListData struct {
		APIKeys []apiKeyView `json:"apiKeys"`
		Total   int          `json:"total"`
	}

	// apiKeyData is the data of DELETE /users/api-keys/{id}.
	apiKeyData struct {
		APIKey apiKeyView `json:"apiKey"`
	}

	// usageData is the data of GET /users/usage.
	usageData struct {
		Period   string             `json:"period" enums:"24h,7d,30d"`
		Messages store.MessageUsage `json:"messages"`
		APICalls int                `json:"apiCalls"`
		ByDay    []store.DayUsage   `json:"byDay"`
	}

	// tierData is the data of GET /users/tier.
	tierData struct {
		Tier service.TierInfo `json:"tier"`
	}

	// sessionListData is the data of the session lists.
	sessionListData struct {
		Sessions   []sessionListView `json:"sessions"`
		Pagination pagination        `json:"pagination"`
	}

	// sessionData is the data of GET /sessions/{id}.
	sessionData struct {
		Session sessionDetailView `json:"session"`
	}

	// sessionStatusData is the data of GET /sessions/{id}/status.
	sessionStatusData struct {
		SessionID   string              `json:"sessionId"`
		Status      model.SessionStatus `json:"status"`
		PhoneNumber *string             `json:"phoneNumber"`
		LastSeen    *time.Time          `json:"lastSeen"`
		Worker      *sessionWorkerView  `json:"worker"`
	}

	// keySessionStatusData is the data of GET /session/status (Messaging API).
	keySessionStatusData struct {
		SessionID    string              `json:"sessionId"`
		Status       model.SessionStatus `json:"status"`
		PhoneNumber  *string             `json:"phoneNumber"`
		LastSeenAt   *time.Time          `json:"lastSeenAt"`
		WorkerID     *string             `json:"workerId"`
		WorkerStatus *model.WorkerStatus `json:"workerStatus"`
	}

	// stoppedSessionData is the data of POST /sessions/{id}/disconnect and /logout.
	stoppedSessionData struct {
		SessionID string              `json:"sessionId"`
		Name      string              `json:"name"`
		Status    model.SessionStatus `json:"status"`
		Message   string              `json:"message"`
	}

	// deletedSessionData is the data of the session deletions.
	deletedSessionData struct {
		SessionID string    `json:"sessionId"`
		DeletedAt time.Time `json:"deletedAt"`
	}

	// qrData is the JSON form of GET /sessions/{id}/qr.
	qrData struct {
		QRCode    string     `json:"qrCode" example:"2@AbCdEf..."`
		QRImage   string     `json:"qrImage" example:"data:image/png;base64,iVBORw0KGgo..."`
		ExpiresAt *time.Time `json:"expiresAt"`
	}

	// pairingData is the data of POST /sessions/{id}/pair.
	pairingData struct {
		SessionID   string `json:"sessionId"`
		PairingCode string `json:"pairingCode" example:"ABCD-EFGH"`
	}

	// messageListData is the data of GET /sessions/{id}/messages.
	messageListData struct {
		Messages []model.Message `json:"messages"`
		// NextCursor is null on the last page.
		NextCursor *string `json:"nextCursor"`
	}

	// messageData is the data of GET /messages/{id}.
	messageData struct {
		Message service.MessageView `json:"message"`
	}

	// cancelledMessageData is the data of DELETE /messages/{id}.
	cancelledMessageData struct {
		ID     string              `json:"id" format:"uuid"`
		Status model.MessageStatus `json:"status" example:"CANCELLED"`
	}

	// seenData is the data of POST /sendSeen.
	seenData struct {
		To        string `json:"to" example:"6281234567890@s.whatsapp.net"`
		MessageID string `json:"messageId"`
		Status    string `json:"status"`
	}

	// typingData is the data of POST /startTyping and /stopTyping.
	typingData struct {
		To     string `json:"to" example:"6281234567890@s.whatsapp.net"`
		Typing bool   `json:"typing"`
	}

	// messageActionData is the data of POST /message/{messageId}/{action}.
	messageActionData struct {
		MessageID string                `json:"messageId"`
		Action    string                `json:"action" enums:"delete,unsend,reaction,edit,read,star,unstar"`
		Result    protocol.ManageResult `json:"result"`
	}

	// preservedSessionsData is the data of POST /workers/{workerId}/sessions-preserved.
	preservedSessionsData struct {
		WorkerID          string    `json:"workerId"`
		PreservedSessions int       `json:"preservedSessions"`
		PreservedUntil    time.Time `json:"preservedUntil"`
	}

	// legacyHeartbeatData is the data of POST /webhooks/worker-heartbeat.
	legacyHeartbeatData struct {
		WorkerID      string             `json:"workerId"`
		Status        model.WorkerStatus `json:"status"`
		LastHeartbeat *time.Time         `json:"lastHeartbeat"`
		SessionCount  int                `json:"sessionCount"`
	}

	// receiptData is the data of POST /webhooks/message-status.
	receiptData struct {
		SessionID string `json:"sessionId"`
		MessageID string `json:"messageId"`
		// Status is absent when the receipt was not recorded.
		Status   string `json:"status,omitempty"`
		Recorded bool   `json:"recorded"`
	}

	// incomingMessageData is the data of POST /webhooks/message.
	incomingMessageData struct {
		ID        string `json:"id" format:"uuid"`
		MessageID string `json:"messageId"`
		Duplicate bool   `json:"duplicate"`
	}

	// workerListData is the data of GET /workers.
	workerListData struct {
		Workers    []workerView `json:"workers"`
		Pagination pagination   `json:"pagination"`
	}

	// workerData wraps one worker.
	workerData struct {
		Worker workerView `json:"worker"`
	}

	// availableWorkersData is the data of GET /workers/available.
	availableWorkersData struct {
		Workers []service.AvailableWorker `json:"workers"`
		Total   int                       `json:"total"`
	}

	// workerTestData is the data of POST /workers/{workerId}/test.
	workerTestData struct {
		WorkerID string               `json:"workerId"`
		Test     service.EndpointTest `json:"test"`
	}

	// workerMetricsData is the data of GET /workers/{workerId}/metrics.
	workerMetricsData struct {
		WorkerID string                `json:"workerId"`
		Period   string                `json:"period" enums:"1h,6h,24h,7d"`
		Metrics  []store.MetricsSample `json:"metrics"`
		Total    int                   `json:"total"`
	}

	// dashboardData is the data of GET /admin/dashboard.
	dashboardData struct {
		Overview struct {
			TotalUsers    int     `json:"totalUsers"`
			TotalSessions int     `json:"totalSessions"`
			TotalWorkers  int     `json:"totalWorkers"`
			TotalMessages int64   `json:"totalMessages"`
			SystemUptime  float64 `json:"systemUptime"` // seconds
		} `json:"overview"`
		Workers struct {
			Online         int     `json:"online"`
			Offline        int     `json:"offline"`
			Maintenance    int     `json:"maintenance"`
			AvgCPUUsage    float64 `json:"avgCpuUsage"`
			AvgMemoryUsage float64 `json:"avgMemoryUsage"`
			TotalCapacity  int     `json:"totalCapacity"`
			UsedCapacity   int     `json:"usedCapacity"`
		} `json:"workers"`
		Sessions struct {
			Connected    int     `json:"connected"`
			Disconnected int     `json:"disconnected"`
			Initializing int     `json:"initializing"`
			SuccessRate  float64 `json:"successRate"` // percent
		} `json:"sessions"`
		Messages struct {
			Last24h         int     `json:"last24h"`
			SuccessRate     float64 `json:"successRate"`     // percent
			AvgResponseTime float64 `json:"avgResponseTime"` // milliseconds
		} `json:"messages"`
		Alerts []store.Alert `json:"alerts"`
	}

	// analyticsData is the data of GET /admin/analytics; with ?metric= only that section and
	// period are present.
	analyticsData struct {
		Period string `json:"period" enums:"1h,24h,7d,30d"`
		Users  *struct {
			Total            int            `json:"total"`
			Active           int            `json:"active"`
			NewRegistrations int            `json:"newRegistrations"`
			ByTier           map[string]int `json:"byTier"`
		} `json:"users,omitempty"`
		Sessions *struct {
			Total    int            `json:"total"`
			Created  int            `json:"created"`
			ByStatus map[string]int `json:"byStatus"`
			// Deleted and Migrated are not tracked yet: always null.
			Deleted  *int `json:"deleted"`
			Migrated *int `json:"migrated"`
		} `json:"sessions,omitempty"`
		Messages *struct {
			Total  int            `json:"total"`
			Sent   int            `json:"sent"`
			Failed int            `json:"failed"`
			ByType map[string]int `json:"byType"`
		} `json:"messages,omitempty"`
		Workers *struct {
			Total         int     `json:"total"`
			Online        int     `json:"online"`
			AvgLoad       float64 `json:"avgLoad"` // percent of capacity
			TotalMessages int64   `json:"totalMessages"`
		} `json:"workers,omitempty"`
	}

	// systemHealthData is the data of GET /admin/system/health.
	systemHealthData struct {
		Health  service.HealthReport `json:"health"`
		Process struct {
			Goroutines int     `json:"goroutines"`
			HeapBytes  uint64  `json:"heapBytes"`
			SysBytes   uint64  `json:"sysBytes"`
			NumGC      uint32  `json:"numGC"`
			Uptime     float64 `json:"uptime"` // seconds
			Version    string  `json:"version"`
			Commit     string  `json:"commit"`
			GoVersion  string  `json:"goVersion"`
		} `json:"process"`
		Pools struct {
			Database struct {
				Total    int32 `json:"total"`
				Idle     int32 `json:"idle"`
				Acquired int32 `json:"acquired"`
				Max      int32 `json:"max"`
			} `json:"database"`
			Redis *struct {
				Total    uint32 `json:"total"`
				Idle     uint32 `json:"idle"`
				Timeouts uint32 `json:"timeouts"`
			} `json:"redis,omitempty"`
		} `json:"pools"`
	}

	// systemLogsData is the data of GET /admin/system/logs.
	systemLogsData struct {
		Logs []store.SystemLog `json:"logs"`
		// NextCursor is null on the last page.
		NextCursor *string `json:"nextCursor"`
	}
)
