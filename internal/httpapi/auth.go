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

// @Summary Register a user
// @Description Creates a BASIC user with role USER and signs them in.
// @Description name: 2–100 characters (letters, spaces, - ' .); email: valid and unique (case-insensitive); password: 8–128 characters with a lower-case and an upper-case letter, a digit and a special character, and not a common password.
// @Tags Auth
// @ID register
// @Accept json
// @Produce json
// @Param body body registerRequest true "The new account"
// @Success 201 {object} envelope{data=authView}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 409 {object} errorEnvelope "conflict: a user with this email already exists"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many attempts from this IP or for this email (AUTH_RATE_LIMIT_PER_MINUTE); see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/auth/register [post]
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

// @Summary Sign in
// @Description Answers a JWT (expiresIn, e.g. 7d) and a single-use refresh token. An unknown email and a wrong password get the same 401. Limited per IP and per email.
// @Tags Auth
// @ID login
// @Accept json
// @Produce json
// @Param body body loginRequest true "Credentials"
// @Success 200 {object} envelope{data=authView}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: invalid email or password"
// @Failure 403 {object} errorEnvelope "forbidden: the account is deactivated"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many attempts from this IP or for this email (AUTH_RATE_LIMIT_PER_MINUTE); see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/auth/login [post]
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

// @Summary Sign out
// @Description Revokes this JWT (and its refresh token) on every replica.
// @Tags Auth
// @ID logout
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/auth/logout [post]
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

// @Summary Refresh the JWT
// @Description Trades a refresh token for a new JWT and a new refresh token. Refresh tokens are single-use: the old one stops working.
// @Tags Auth
// @ID refreshToken
// @Accept json
// @Produce json
// @Param body body refreshRequest true "The refresh token from sign-in or the previous refresh"
// @Success 200 {object} envelope{data=tokenPairData}
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: the refresh token is invalid, expired or already used"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many attempts from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/auth/refresh [post]
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

// @Summary The signed-in user
// @Description The user of the JWT with their number of CONNECTED sessions (activeSessions).
// @Tags Auth
// @ID me
// @Produce json
// @Security BearerJWT
// @Success 200 {object} envelope{data=userData}
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/auth/me [get]
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

// @Summary Change the password
// @Description Needs the current password; signs out the user's other JWTs and answers a fresh JWT for this client.
// @Tags Auth
// @ID changePassword
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param body body changePasswordRequest true "Current and new password (same rules as registration)"
// @Success 200 {object} envelope{data=authView}
// @Failure 400 {object} errorEnvelope "validation_error: a bad new password, or the current password is incorrect; bad_request: malformed JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/auth/change-password [post]
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

// @Summary Deactivate the account
// @Description Needs the password. Deactivates the account, revokes its tokens and disconnects its sessions. Served at /auth/deactivate and /users/deactivate.
// @Tags Auth
// @Accept json
// @Produce json
// @Security BearerJWT
// @Param body body deactivateRequest true "The account's password"
// @Success 200 {object} envelope
// @Failure 400 {object} errorEnvelope "validation_error: the password is missing or incorrect; bad_request: malformed JSON"
// @Failure 401 {object} errorEnvelope "unauthorized: no, invalid, expired or revoked JWT, or the account is inactive"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/auth/deactivate [post]
// @Router /api/v1/users/deactivate [post]
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

// @Summary Ask for a password reset
// @Description Always answers 200, whether or not the email is registered. For a registered, active user it creates a single-use reset token valid for one hour and hands the reset link to the mailer.
// @Tags Auth
// @ID forgotPassword
// @Accept json
// @Produce json
// @Param body body forgotPasswordRequest true "The account's email"
// @Success 200 {object} envelope
// @Failure 400 {object} errorEnvelope "validation_error: details lists every bad field; bad_request: the body is not valid JSON"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many attempts from this IP or for this email (AUTH_RATE_LIMIT_PER_MINUTE); see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/auth/forgot-password [post]
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

// @Summary Reset the password
// @Description Sets a new password with the token from the reset link and signs out every JWT of the user.
// @Tags Auth
// @ID resetPassword
// @Accept json
// @Produce json
// @Param body body resetPasswordRequest true "Reset token and new password (same rules as registration)"
// @Success 200 {object} envelope
// @Failure 400 {object} errorEnvelope "validation_error: a bad new password, or the reset token is invalid or expired; bad_request: malformed JSON"
// @Failure 413 {object} errorEnvelope "payload_too_large: the body is above the limit (1 MiB by default)"
// @Failure 415 {object} errorEnvelope "unsupported_media_type: the body is not application/json"
// @Failure 429 {object} errorEnvelope "rate_limited: too many requests from this IP; see Retry-After"
// @Failure 500 {object} errorEnvelope "internal_error: unexpected; the answer carries requestId"
// @Router /api/v1/auth/reset-password [post]
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
