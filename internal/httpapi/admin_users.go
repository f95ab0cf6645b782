package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/store"
)

// adminListUsers lists users with search (email or name), role, tier and isActive filters.
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
