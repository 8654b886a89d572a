package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// Admin tokens: the token string is handed out once, in the answer that
// creates it; only a hash of its secret is stored, and no answer shows
// even that.

// TokenView is an admin token as the API and `acmegate token list` show
// it.
type TokenView struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Role      storage.Role `json:"role"`
	CreatedBy string       `json:"created_by,omitempty"`
	// State is active, expired or revoked.
	State      string     `json:"state"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// NewTokenView is t as shown at now.
func NewTokenView(t *storage.AdminToken, now time.Time) TokenView {
	state := "active"
	switch {
	case !t.RevokedAt.IsZero():
		state = "revoked"
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		state = "expired"
	}
	return TokenView{
		ID: t.ID, Name: t.Name, Role: t.Role, CreatedBy: t.CreatedBy, State: state, CreatedAt: t.CreatedAt,
		ExpiresAt: timePtr(t.ExpiresAt), RevokedAt: timePtr(t.RevokedAt), LastUsedAt: timePtr(t.LastUsedAt),
	}
}

// tokenName is what a token may be called: it is the actor in the audit
// trail ("token:NAME"), so it stays short and plain.
var tokenName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// ErrTokenNameTaken: another token, maybe revoked, has the name.
var ErrTokenNameTaken = errors.New("a token with this name exists (revoked tokens keep their names)")

// CreateToken makes and stores a token called name with role, valid for
// ttl (0: until revoked), and returns the token string to hand out once.
// createdBy is the actor creating it.
func CreateToken(ctx context.Context, st storage.AdminTokenStore, name string, role storage.Role, ttl time.Duration, createdBy string, now time.Time) (string, *storage.AdminToken, error) {
	if !tokenName.MatchString(name) {
		return "", nil, fmt.Errorf("token name %q must be 1-64 letters, digits, '.', '_', '@' or '-'", name)
	}
	if ttl < 0 {
		return "", nil, errors.New("a token's lifetime cannot be negative")
	}
	raw, t, err := NewToken(name, role, createdBy, ttl, now)
	if err != nil {
		return "", nil, err
	}
	if err := st.CreateAdminToken(ctx, t); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return "", nil, fmt.Errorf("token %q: %w", name, ErrTokenNameTaken)
		}
		return "", nil, fmt.Errorf("store token: %w", err)
	}
	return raw, t, nil
}

func (s *Server) listTokens(c *call) error {
	if err := c.checkQuery(); err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	toks, err := s.store.ListAdminTokens(c.r.Context())
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	items, next, err := pageSlice(toks, p)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	views := make([]TokenView, len(items))
	for i, t := range items {
		views[i] = NewTokenView(t, now)
	}
	replyPage(c, views, next)
	return nil
}

func (s *Server) getToken(c *call) error {
	id := c.vars("id")
	t, err := s.store.GetAdminToken(c.r.Context(), id)
	if err != nil {
		return storeError(err, fmt.Sprintf("token %q", id))
	}
	c.reply(http.StatusOK, NewTokenView(t, s.clock.Now()))
	return nil
}

// newTokenAnswer is the only answer that holds a token string.
type newTokenAnswer struct {
	TokenView
	Token string `json:"token"`
}

func (s *Server) createToken(c *call) error {
	var req struct {
		Name string       `json:"name"`
		Role storage.Role `json:"role"`
		// TTL is a Go duration ("720h"); absent or "0" never expires.
		TTL string `json:"ttl"`
	}
	if err := c.decodeBody(&req, false); err != nil {
		return err
	}
	switch {
	case !tokenName.MatchString(req.Name):
		return invalid("name", "%q must be 1-64 letters, digits, '.', '_', '@' or '-'", req.Name)
	case !ValidRole(req.Role):
		return invalid("role", "%q must be admin, operator or auditor", req.Role)
	}
	ttl, err := parseTTL("ttl", req.TTL)
	if err != nil {
		return err
	}
	raw, t, err := CreateToken(c.r.Context(), s.store, req.Name, req.Role, ttl, c.actor(), s.clock.Now())
	if errors.Is(err, ErrTokenNameTaken) {
		return conflict("a token named %q exists already (revoked tokens keep their names)", req.Name)
	}
	if err != nil {
		return err
	}
	c.object = "token:" + t.ID
	c.detail = fmt.Sprintf("created token %s named %s with role %s (ttl %s)", t.ID, t.Name, t.Role, ttlText(ttl))
	c.w.Header().Set("Location", apiPrefix+"/tokens/"+t.ID)
	c.reply(http.StatusCreated, newTokenAnswer{TokenView: NewTokenView(t, s.clock.Now()), Token: raw})
	return nil
}

func (s *Server) revokeToken(c *call) error {
	if err := c.decodeBody(&struct{}{}, true); err != nil {
		return err
	}
	ctx := c.r.Context()
	id := c.vars("id")
	t, err := s.store.GetAdminToken(ctx, id)
	if err != nil {
		return storeError(err, fmt.Sprintf("token %q", id))
	}
	if err := s.store.RevokeAdminToken(ctx, id, s.clock.Now()); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return conflict("token %s (%s) is already revoked", id, t.Name)
		}
		return storeError(err, fmt.Sprintf("token %q", id))
	}
	c.detail = fmt.Sprintf("revoked token %s named %s (role %s)", t.ID, t.Name, t.Role)
	if t, err = s.store.GetAdminToken(ctx, id); err != nil {
		return fmt.Errorf("read the revoked token: %w", err)
	}
	c.reply(http.StatusOK, NewTokenView(t, s.clock.Now()))
	return nil
}
