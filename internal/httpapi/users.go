package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
)

// @Summary The signed-in user's profile
// @Description The user with their statistics: CONNECTED and total sessions, messages sent in all and today.
// @Tags Users
// @ID getProfile
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=userData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/users/profile [get]
func (s *Server) getProfile(w http.ResponseWriter, r *http.Request) {
	user, stats, err := s.accounts.Me(r.Context(), principal(r).UserID)
	if err != nil {
		respondError(w, r, err)
		return
	}
	view := viewUser(user)
	view.Stats = &stats
	respond(w, http.StatusOK, "", map[string]any{"user": view})
}

type updateProfileRequest struct {
	Name            *string `json:"name" validate:"omitempty,min=2,max=100,personname"`
	Email           *string `json:"email" validate:"omitempty,max=254,email"`
	CurrentPassword string  `json:"currentPassword" validate:"max=1024"`
	NewPassword     *string `json:"newPassword" validate:"omitempty,min=8,max=128,pwchars,notcommon"`
}

// @Summary Update the profile
// @Description Changes name, email or password; a new email or password needs currentPassword. A new password signs out every JWT and refresh token of the user and answers new ones for the caller (token, refreshToken, expiresIn beside user), as change-password does.
// @Tags Users
// @ID updateProfile
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param body body updateProfileRequest true "The fields to change"
// @Success 200 {object} envelope{data=authView} "user; with a new password also token, refreshToken and expiresIn"
// @Failure 400 {object} errorEnvelope "validation_error: a bad field, or currentPassword missing or incorrect; bad_request: malformed JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 409 {object} errorEnvelope "conflict: a user with this email already exists"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/users/profile [put]
func (s *Server) updateProfile(w http.ResponseWriter, r *http.Request) {
	var req updateProfileRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	user, signedIn, err := s.accounts.UpdateProfile(r.Context(), principal(r).UserID, service.ProfileChanges{
		Name: req.Name, Email: req.Email, CurrentPassword: req.CurrentPassword, NewPassword: req.NewPassword,
	})
	if err != nil {
		respondError(w, r, err)
		return
	}
	if signedIn != nil {
		// A new password signed every login out; the caller gets new tokens, like change-password.
		respond(w, http.StatusOK, "Profile updated; other sessions were signed out", viewAuth(*signedIn))
		return
	}
	respond(w, http.StatusOK, "Profile updated", map[string]any{"user": viewUser(user)})
}

type apiKeyView struct {
	ID        string     `json:"id"`
	Name      *string    `json:"name"`
	SessionID string     `json:"sessionId"`
	Prefix    string     `json:"prefix"`
	Masked    string     `json:"masked"`
	IsActive  bool       `json:"isActive"`
	LastUsed  *time.Time `json:"lastUsed"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

func viewAPIKey(k model.APIKey) apiKeyView {
	return apiKeyView{ID: k.ID, Name: k.Name, SessionID: k.SessionID, Prefix: k.Prefix, Masked: k.Masked,
		IsActive: k.IsActive && k.RevokedAt == nil, LastUsed: k.LastUsed, CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt}
}

// @Summary List the user's API keys
// @Description One key per session, masked (wg_AbCd…WxYz); the full key is shown only by GET /sessions/{id} to its owner.
// @Tags Users
// @ID listApiKeys
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=apiKeyListData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/users/api-keys [get]
func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := store.ListUserAPIKeys(r.Context(), s.db, principal(r).UserID)
	if err != nil {
		respondError(w, r, err)
		return
	}
	views := make([]apiKeyView, 0, len(keys))
	for _, k := range keys {
		views = append(views, viewAPIKey(k))
	}
	respond(w, http.StatusOK, "", map[string]any{"apiKeys": views, "total": len(views)})
}

// @Summary Revoke an API key
// @Description The key stops working on every replica within a second. POST /sessions/{id}/api-key/regenerate gives the session a new one.
// @Tags Users
// @ID revokeApiKey
// @Produce json
// @Security BearerJWT
// @Param id path string true "API key ID" format(uuid)
// @Success 200 {object} envelope{data=apiKeyData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such API key of this user"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/users/api-keys/{id} [delete]
func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r, "id")
	if err != nil {
		respondError(w, r, err)
		return
	}
	key, err := store.RevokeUserAPIKey(r.Context(), s.db, principal(r).UserID, id)
	if err != nil {
		respondError(w, r, notFoundAs(err, "API key not found"))
		return
	}
	respond(w, http.StatusOK, "API key revoked", map[string]any{"apiKey": viewAPIKey(key)})
}

var usagePeriods = map[string]time.Duration{"24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour}

// @Summary The user's usage
// @Description Outbound messages (by status and type) and API calls over the period, with a per-day breakdown (UTC).
// @Tags Users
// @ID getUsage
// @Produce json
// @Security BearerJWT
// @Param period query string false "Period" Enums(24h, 7d, 30d) default(24h)
// @Param sessionId query string false "Only this session of the user"
// @Success 200 {object} envelope{data=usageData}
// @Failure 400 {object} errorEnvelope "validation_error: a query parameter is malformed or out of range (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 404 {object} errorEnvelope "not_found: no such session of this user"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/users/usage [get]
func (s *Server) getUsage(w http.ResponseWriter, r *http.Request) {
	period := r.URL.Query().Get("period")
	if period == "" {
		period = "24h"
	}
	span, ok := usagePeriods[period]
	if !ok {
		respondError(w, r, model.ValidationError(model.FieldError{Field: "period", Message: "must be one of 24h, 7d, 30d"}))
		return
	}
	userID := principal(r).UserID
	var sessionID *string
	if id := r.URL.Query().Get("sessionId"); id != "" {
		if _, err := store.GetUserSession(r.Context(), s.db, userID, id); err != nil {
			respondError(w, r, notFoundAs(err, "Session not found"))
			return
		}
		sessionID = &id
	}
	usage, err := store.GetUsage(r.Context(), s.db, userID, sessionID, time.Now().Add(-span))
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", map[string]any{
		"period": period, "messages": usage.Messages, "apiCalls": usage.APICalls, "byDay": usage.ByDay,
	})
}

// @Summary The user's tier
// @Description The current tier, its limits and features, what is used of them now (sessions, this hour's messages and API calls) and the next tier up.
// @Tags Users
// @ID getTier
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=tierData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/users/tier [get]
func (s *Server) getTier(w http.ResponseWriter, r *http.Request) {
	info, err := service.GetTierInfo(r.Context(), s.db, s.quotas, principal(r).UserID)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "", map[string]any{"tier": info})
}

// pathUUID reads a UUID path parameter; anything else is 404 (no such resource).
func pathUUID(r *http.Request, name string) (string, error) {
	id := chi.URLParam(r, name)
	if !isUUID(id) {
		return "", model.Errorf(model.KindNotFound, "Resource not found")
	}
	return id, nil
}

func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// notFoundAs gives a not-found error a client-facing message.
func notFoundAs(err error, message string) error {
	if errors.Is(err, model.ErrNotFound) {
		return model.Errorf(model.KindNotFound, "%s", message)
	}
	return err
}
