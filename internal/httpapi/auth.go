package httpapi

import (
	"net/http"
	"time"

	"github.com/wagateway/gateway/internal/model"
	"github.com/wagateway/gateway/internal/service"
	"github.com/wagateway/gateway/internal/store"
)

// userView is a user as the API shows it: never the password hash.
type userView struct {
	ID             string           `json:"id"`
	Name           string           `json:"name"`
	Email          string           `json:"email"`
	Role           model.UserRole   `json:"role"`
	Tier           model.UserTier   `json:"tier"`
	IsActive       bool             `json:"isActive"`
	LastLoginAt    *time.Time       `json:"lastLoginAt"`
	CreatedAt      time.Time        `json:"createdAt"`
	UpdatedAt      time.Time        `json:"updatedAt"`
	ActiveSessions *int             `json:"activeSessions,omitempty"`
	Stats          *store.UserStats `json:"stats,omitempty"`
}

func viewUser(u model.User) userView {
	return userView{ID: u.ID, Name: u.Name, Email: u.Email, Role: u.Role, Tier: u.Tier, IsActive: u.IsActive,
		LastLoginAt: u.LastLoginAt, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

type authView struct {
	User         userView `json:"user"`
	Token        string   `json:"token"`
	ExpiresIn    string   `json:"expiresIn"`
	RefreshToken string   `json:"refreshToken"`
}

func viewAuth(a service.AuthResult) authView {
	return authView{User: viewUser(a.User), Token: a.Token, ExpiresIn: a.ExpiresIn, RefreshToken: a.RefreshToken}
}

type registerRequest struct {
	Name     string `json:"name" validate:"required,min=2,max=100,personname"`
	Email    string `json:"email" validate:"required,max=254,email"`
	Password string `json:"password" validate:"required,min=8,max=128,pwchars,notcommon"`
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) {
	var req registerRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.limitAuth(r, "register", req.Email); err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.accounts.Register(r.Context(), req.Name, req.Email, req.Password)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusCreated, "User registered successfully", viewAuth(res))
}

type loginRequest struct {
	Email    string `json:"email" validate:"required,max=254,email"`
	Password string `json:"password" validate:"required,max=1024"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.limitAuth(r, "login", req.Email); err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.accounts.Login(r.Context(), req.Email, req.Password)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Login successful", viewAuth(res))
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if err := s.accounts.Logout(r.Context(), principal(r)); err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Logout successful", nil)
}

type refreshRequest struct {
	RefreshToken string `json:"refreshToken" validate:"required,max=512"`
}

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) {
	var req refreshRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.limitAuth(r, "refresh", ""); err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.accounts.Refresh(r.Context(), req.RefreshToken)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Token refreshed successfully", map[string]string{
		"token": res.Token, "expiresIn": res.ExpiresIn, "refreshToken": res.RefreshToken,
	})
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	user, stats, err := s.accounts.Me(r.Context(), principal(r).UserID)
	if err != nil {
		respondError(w, r, err)
		return
	}
	view := viewUser(user)
	view.ActiveSessions = &stats.ActiveSessions
	respond(w, http.StatusOK, "", map[string]any{"user": view})
}

type changePasswordRequest struct {
	CurrentPassword string `json:"currentPassword" validate:"required,max=1024"`
	NewPassword     string `json:"newPassword" validate:"required,min=8,max=128,pwchars,notcommon,nefield=CurrentPassword"`
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	var req changePasswordRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	res, err := s.accounts.ChangePassword(r.Context(), principal(r).UserID, req.CurrentPassword, req.NewPassword)
	if err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Password changed; other sessions were signed out", viewAuth(res))
}

type deactivateRequest struct {
	Password string `json:"password" validate:"required,max=1024"`
}

func (s *Server) deactivate(w http.ResponseWriter, r *http.Request) {
	var req deactivateRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.accounts.Deactivate(r.Context(), principal(r).UserID, req.Password); err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Account deactivated", nil)
}

type forgotPasswordRequest struct {
	Email string `json:"email" validate:"required,max=254,email"`
}

func (s *Server) forgotPassword(w http.ResponseWriter, r *http.Request) {
	var req forgotPasswordRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.limitAuth(r, "forgot-password", req.Email); err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.accounts.ForgotPassword(r.Context(), req.Email); err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "If the email is registered, a reset link has been sent", nil)
}

type resetPasswordRequest struct {
	Token       string `json:"token" validate:"required,max=512"`
	NewPassword string `json:"newPassword" validate:"required,min=8,max=128,pwchars,notcommon"`
}

func (s *Server) resetPassword(w http.ResponseWriter, r *http.Request) {
	var req resetPasswordRequest
	if err := decode(r, &req); err != nil {
		respondError(w, r, err)
		return
	}
	if err := s.accounts.ResetPassword(r.Context(), req.Token, req.NewPassword); err != nil {
		respondError(w, r, err)
		return
	}
	respond(w, http.StatusOK, "Password reset; sign in with the new password", nil)
}

// limitAuth applies AUTH_RATE_LIMIT_PER_MINUTE per client IP and per email to an auth route,
// shared by every replica. When Redis is down the limit is skipped (logged): bcrypt still
// slows guessing, and sign-in keeps working.
func (s *Server) limitAuth(r *http.Request, route, email string) error {
	keys := []string{s.keys.Key("ratelimit", "auth", route, "ip", clientIPFrom(r.Context()))}
	if email != "" {
		keys = append(keys, s.keys.Key("ratelimit", "auth", route, "email", service.NormalizeEmail(email)))
	}
	for _, key := range keys {
		res, err := s.limiter.Allow(r.Context(), key, s.cfg.AuthRateLimitPerMinute, time.Minute)
		if err != nil {
			loggerFrom(r.Context()).WarnContext(r.Context(), "auth rate limit unavailable", "err", err)
			return nil
		}
		if !res.Allowed {
			s.metrics.RateLimitRejections.WithLabelValues("auth_" + route).Inc()
			return &model.Error{Kind: model.KindRateLimited, RetryAfter: res.ResetIn,
				Message: "Too many attempts, please try again later"}
		}
	}
	return nil
}
