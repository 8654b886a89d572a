package admin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// Operators authenticate with a bearer token ("acmegate_<id>_<secret>"):
// the id finds the stored token, the secret is checked against its SHA-256
// hash in constant time. The dashboard exchanges a token for a session
// cookie that names the token and is authenticated by an HMAC under a key
// every instance shares; the token is looked up again on every request, so
// revoking it ends its sessions at once.

var errMissingStore = errors.New("admin: Store is required")

// tokenPrefix starts every admin token, so secret scanners can spot one.
const tokenPrefix = "acmegate_"

// NewToken makes a token for name with role: the token string to hand to
// the operator once, and the record to store (which holds only a hash).
func NewToken(name string, role storage.Role, createdBy string, ttl time.Duration, now time.Time) (string, *storage.AdminToken, error) {
	if !ValidRole(role) {
		return "", nil, fmt.Errorf("unknown role %q (admin, operator or auditor)", role)
	}
	if strings.TrimSpace(name) == "" {
		return "", nil, errors.New("a token needs a name: it is the actor in the audit trail")
	}
	idb := make([]byte, 9)
	secret := make([]byte, 32)
	if _, err := rand.Read(idb); err != nil {
		return "", nil, fmt.Errorf("token id: %w", err)
	}
	if _, err := rand.Read(secret); err != nil {
		return "", nil, fmt.Errorf("token secret: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(idb)
	id = strings.NewReplacer("-", "x", "_", "y").Replace(id)
	sec := base64.RawURLEncoding.EncodeToString(secret)
	h := sha256.Sum256([]byte(sec))
	t := &storage.AdminToken{ID: id, Name: name, Role: role, Hash: h[:], CreatedBy: createdBy, CreatedAt: now}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	return tokenPrefix + id + "_" + sec, t, nil
}

// ValidRole reports whether r is one of the three roles.
func ValidRole(r storage.Role) bool {
	return r == storage.RoleAdmin || r == storage.RoleOperator || r == storage.RoleAuditor
}

// allows reports whether a token of role have may do what needs role need.
func allows(have, need storage.Role) bool { return rank(have) >= rank(need) }

func rank(r storage.Role) int {
	switch r {
	case storage.RoleAuditor:
		return 1
	case storage.RoleOperator:
		return 2
	case storage.RoleAdmin:
		return 3
	}
	return 0
}

// errBadToken is every authentication failure: the caller learns nothing
// about which part was wrong.
var errBadToken = errors.New("invalid, expired or revoked token")

// Authenticate returns the stored token a token string belongs to, if the
// token is usable at now.
func (s *Server) Authenticate(ctx context.Context, token string) (*storage.AdminToken, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok {
		return nil, errBadToken
	}
	id, secret, ok := strings.Cut(rest, "_")
	if !ok || id == "" || secret == "" {
		return nil, errBadToken
	}
	t, err := s.usableToken(ctx, id)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(h[:], t.Hash) != 1 {
		return nil, errBadToken
	}
	return t, nil
}

// usableToken loads token id and checks it is neither revoked nor expired.
func (s *Server) usableToken(ctx context.Context, id string) (*storage.AdminToken, error) {
	t, err := s.store.GetAdminToken(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("load token: %w", err)
	}
	now := s.clock.Now()
	if !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
		return nil, errBadToken
	}
	if now.Sub(t.LastUsedAt) > time.Minute {
		// Last use is for the operators' token list, not exact: one write
		// a minute per token at most.
		if err := s.store.TouchAdminToken(ctx, t.ID, now); err != nil {
			s.log.Warn("touch admin token", slog.String("token", t.Name), slog.Any("error", err))
		}
	}
	return t, nil
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// Sessions.

const (
	sessionCookie = "acmegate_session"
	sessionSecret = "admin-session-key"
)

func loadSessionKey(ctx context.Context, st storage.SecretStore) ([]byte, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	key, err := st.GetOrCreateSecret(ctx, sessionSecret, k)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	return key, nil
}

func (s *Server) mac(parts ...string) string {
	m := hmac.New(sha256.New, s.sessionKey)
	for _, p := range parts {
		m.Write([]byte(strconv.Itoa(len(p))))
		m.Write([]byte{':'})
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// newSession returns the cookie value of a session of token id:
// id.expiry.nonce.mac. The nonce makes every login a distinct session
// (and so a distinct CSRF token), even twice in the same second.
func (s *Server) newSession(id string) (value string, expires time.Time) {
	expires = s.clock.Now().Add(s.cfg.SessionLifetime)
	exp := strconv.FormatInt(expires.Unix(), 10)
	nb := make([]byte, 12)
	if _, err := rand.Read(nb); err != nil {
		// crypto/rand does not fail on supported platforms (Go 1.24+).
		panic(fmt.Sprintf("admin: session nonce: %v", err))
	}
	nonce := base64.RawURLEncoding.EncodeToString(nb)
	return id + "." + exp + "." + nonce + "." + s.mac("session", id, exp, nonce), expires
}

// SetSession sets the session cookie for token t on w.
func (s *Server) SetSession(w http.ResponseWriter, t *storage.AdminToken) {
	v, exp := s.newSession(t.ID)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: v, Path: dashboardPrefix, Expires: exp,
		Secure: !s.cfg.InsecureCookies, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// ClearSession removes the session cookie.
func (s *Server) ClearSession(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: "", Path: dashboardPrefix, MaxAge: -1,
		Secure: !s.cfg.InsecureCookies, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	})
}

// SessionToken returns the token of the request's session cookie, if the
// cookie is authentic, not expired, and its token still usable.
func (s *Server) SessionToken(r *http.Request) (*storage.AdminToken, string, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, "", errBadToken
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 4 {
		return nil, "", errBadToken
	}
	if !hmac.Equal([]byte(parts[3]), []byte(s.mac("session", parts[0], parts[1], parts[2]))) {
		return nil, "", errBadToken
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || !s.clock.Now().Before(time.Unix(exp, 0)) {
		return nil, "", errBadToken
	}
	t, err := s.usableToken(r.Context(), parts[0])
	if err != nil {
		return nil, "", err
	}
	return t, c.Value, nil
}

// CSRFToken is the anti-forgery token of a session: every dashboard form
// carries it in a hidden "csrf" field.
func (s *Server) CSRFToken(session string) string { return s.mac("csrf", session) }

// CheckCSRF verifies a form's token against the session (constant time).
func (s *Server) CheckCSRF(session, token string) bool {
	return token != "" && hmac.Equal([]byte(token), []byte(s.CSRFToken(session)))
}

// Audit.

// AuditActor is how a token appears in the audit trail.
func AuditActor(t *storage.AdminToken) string {
	if t == nil {
		return "anonymous"
	}
	return "token:" + t.Name
}

// clientIP is the peer address of r (acmegate does not trust forwarding
// headers on the admin listener).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Audit appends an entry for an admin action. A failure to append is
// logged and returned: callers of mutations treat it as a failure.
func (s *Server) Audit(ctx context.Context, r *http.Request, t *storage.AdminToken, dir, action, object, outcome, detail string) error {
	e := &storage.AuditEntry{
		At: s.clock.Now(), Actor: AuditActor(t), Directory: dir, Action: action,
		Object: object, Outcome: outcome, ClientIP: clientIP(r), Detail: detail,
	}
	if err := s.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("append audit entry", slog.String("action", action), slog.Any("error", err))
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}
