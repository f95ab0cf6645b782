package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

// adminListUsers lists users with search (email or name), role, tier and isActive filters.
//
// @Summary List users
// @Description Every user, newest first, with filters.
// @Tags Admin
// @ID adminListUsers
// @Produce json
// @Security BearerJWT
// @Param search query string false "Case-insensitive substring of the email or name" maxLength(254)
// @Param role query string false "Role" Enums(USER, ADMINISTRATOR)
// @Param tier query string false "Tier" Enums(BASIC, PRO, MAX)
// @Param isActive query bool false "Active or deactivated users only"
// @Param limit query int false "Items per page" minimum(1) maximum(100) default(20)
// @Param page query int false "Page number, from 1 (or use offset)" minimum(1)
// @Param offset query int false "Items to skip, from 0 (instead of page)" minimum(0)
// @Success 200 {object} envelope{data=userListData}
// @Failure 400 {object} errorEnvelope "validation_error: a query parameter is malformed or out of range (details lists each)"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/admin/users [get]
func (s *Server) adminListUsers(w http.ResponseWriter, r *http.Request) {
	p, err := parsePage(r)
	var bad []model.FieldError
	filter := store.UserFilter{
		Search:   r.URL.Query().Get("search"),
		Role:     queryEnum(r, "role", model.UserRoles, &bad),
		Tier:     queryEnum(r, "tier", model.Tiers, &bad),
		IsActive: queryBool(r, "isActive", &bad),
	}
	if len(filter.Search) > 254 {
		bad = append(bad, model.FieldError{Field: "search", Message: "must be at most 254 characters"})
	}
	if err != nil || len(bad) > 0 {
		respondError(w, r, mergeValidation(err, bad))
		return
	}
	filter.Limit, filter.Offset = p.Limit, p.Offset
	users, total, err := store.ListUsers(r.Context(), s.db, filter)
	if err != nil {
		respondError(w, r, err)
		return
	}
	views := make([]userView, 0, len(users))
	for _, u := range users {
		views = append(views, viewUser(u))
	}
	respond(w, http.StatusOK, "", map[string]any{"users": views, "pagination": p.describe(total)})
}

// @Summary Show a user
// @Description The user with their statistics.
// @Tags Admin
// @ID adminGetUser
// @Produce json
// @Security BearerJWT
// @Param id path string true "User ID" format(uuid)
// @Success 200 {object} envelope{data=userData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 404 {object} errorEnvelope "not_found: no such user"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/admin/users/{id} [get]
func (s *Server) adminGetUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r, "id")
	if err != nil {
		respondError(w, r, err)
		return
	}
	user, stats, err := s.accounts.Me(r.Context(), id)
	if err != nil {
		respondError(w, r, notFoundAs(err, "User not found"))
		return
	}
	view := viewUser(user)
	view.Stats = &stats
	respond(w, http.StatusOK, "", map[string]any{"user": view})
}

type adminUpdateUserRequest struct {
	Name     *string         `json:"name" validate:"omitempty,min=2,max=100,personname"`
	Role     *model.UserRole `json:"role" validate:"omitempty,oneof=USER ADMINISTRATOR"`
	Tier     *model.UserTier `json:"tier" validate:"omitempty,oneof=BASIC PRO MAX"`
	IsActive *bool           `json:"isActive"`
}

// @Summary Change a user
// @Description Changes name, role, tier or isActive. Deactivating a user revokes their tokens and disconnects their sessions; administrators cannot demote or deactivate themselves.
// @Tags Admin
// @ID adminUpdateUser
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param id path string true "User ID" format(uuid)
// @Param body body adminUpdateUserRequest true "The fields to change"
// @Success 200 {object} envelope{data=userData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 404 {object} errorEnvelope "not_found: no such user"
// @Failure 409 {object} errorEnvelope "conflict: administrators cannot demote or deactivate their own account"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/admin/users/{id} [put]
func (s *Server) adminUpdateUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r, "id")
	if err != nil {
		respondError(w, r, err)
		return
	}
	var req adminUpdateUserRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	user, err := s.accounts.AdminUpdateUser(r.Context(), principal(r).UserID, id, store.UserChanges{
		Name: req.Name, Role: req.Role, Tier: req.Tier, IsActive: req.IsActive,
	})
	if err != nil {
		respondError(w, r, notFoundAs(err, "User not found"))
		return
	}
	respond(w, http.StatusOK, "User updated", map[string]any{"user": viewUser(user)})
}

// @Summary Delete a user
// @Description Deletes the user with their sessions, keys and messages (cascade); administrators cannot delete themselves.
// @Tags Admin
// @ID adminDeleteUser
// @Produce json
// @Security BearerJWT
// @Param id path string true "User ID" format(uuid)
// @Success 200 {object} envelope{data=deletedUserData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 403 {object} errorEnvelope "forbidden: the user is not an ADMINISTRATOR"
// @Failure 404 {object} errorEnvelope "not_found: no such user"
// @Failure 409 {object} errorEnvelope "conflict: administrators cannot delete their own account"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/admin/users/{id} [delete]
func (s *Server) adminDeleteUser(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r, "id")
	if err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.accounts.AdminDeleteUser(r.Context(), principal(r).UserID, id); err != nil {
		respondError(w, r, notFoundAs(err, "User not found"))
		return
	}
	respond(w, http.StatusOK, "User deleted", map[string]any{"userId": chi.URLParam(r, "id")})
}
