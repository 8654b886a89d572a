package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/storage"
)

// Dashboard authentication: an operator pastes an admin token into the
// login form once and gets a session cookie (SetSession); every page then
// needs that session, and every form its CSRF token.
//
// The login form itself is protected against cross-site submission (login
// CSRF: a hostile page logging the operator's browser in with the
// attacker's token) by a pre-session token of the signed double-submit
// kind: GET /admin/login sets a cookie holding a random nonce and an
// expiry, and the form carries an HMAC of that cookie under the session
// key. A POST is accepted only when the form's value is the HMAC of the
// cookie that came with it. A cross-site page can neither read the cookie
// nor compute the HMAC of one, and a cookie planted from a sibling
// subdomain is ruled out by the __Host- prefix (Secure, Path=/, no Domain),
// which browsers refuse to accept from anywhere but this origin. With
// InsecureCookies (plain HTTP on loopback) the prefix cannot be used and
// the cookie is a plain one scoped to the login path.

const (
	// loginCookieSecure and loginCookiePlain name the pre-session cookie
	// over HTTPS and plain HTTP.
	loginCookieSecure = "__Host-acmegate_login"
	loginCookiePlain  = "acmegate_login"
	// loginFormLifetime is how long a login form may be submitted.
	loginFormLifetime = time.Hour
	// dashMaxForm caps a dashboard form body.
	dashMaxForm = 64 << 10
	// actionLogin and actionLogout are the audit actions of sessions.
	actionLogin  = "admin.login"
	actionLogout = "admin.logout"
)

func (s *Server) loginCookieName() string {
	if s.cfg.InsecureCookies {
		return loginCookiePlain
	}
	return loginCookieSecure
}

// newLoginForm sets a fresh pre-session cookie on w and returns the CSRF
// token the login form carries for it.
func (s *Server) newLoginForm(w http.ResponseWriter) string {
	nonce := make([]byte, 18)
	_, _ = rand.Read(nonce)
	exp := s.clock.Now().Add(loginFormLifetime)
	v := base64.RawURLEncoding.EncodeToString(nonce) + "." + strconv.FormatInt(exp.Unix(), 10)
	c := &http.Cookie{Name: s.loginCookieName(), Value: v, Path: "/", Expires: exp,
		Secure: !s.cfg.InsecureCookies, HttpOnly: true, SameSite: http.SameSiteStrictMode}
	if s.cfg.InsecureCookies {
		c.Path = dashboardPrefix + "login"
	}
	http.SetCookie(w, c)
	return s.mac("login-csrf", v)
}

// checkLoginForm verifies the login form's CSRF token against its cookie.
func (s *Server) checkLoginForm(r *http.Request, token string) bool {
	c, err := r.Cookie(s.loginCookieName())
	if err != nil || token == "" {
		return false
	}
	_, exp, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	unix, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || !s.clock.Now().Before(time.Unix(unix, 0)) {
		return false
	}
	return hmac.Equal([]byte(token), []byte(s.mac("login-csrf", c.Value)))
}

// loginData is what the login page shows.
type loginData struct {
	LoginCSRF string
	Next      string
}

// safeNext is where to go after logging in: a dashboard path, never
// another site (no open redirect), never the login page again.
func safeNext(v string) string {
	if !strings.HasPrefix(v, dashboardPrefix) || strings.ContainsAny(v, "\\\r\n") || strings.Contains(v, "//") ||
		strings.HasPrefix(v, dashboardPrefix+"login") || strings.HasPrefix(v, dashboardPrefix+"logout") {
		return dashboardPrefix
	}
	return v
}

// loginPage shows the login form, or goes home with a live session.
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	if _, _, err := s.SessionToken(r); err == nil {
		http.Redirect(w, r, dashboardPrefix, http.StatusSeeOther)
		return
	}
	s.renderLogin(w, r, http.StatusOK, safeNext(r.URL.Query().Get("next")), "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, msg string) {
	d := &dashReq{s: s, w: w, r: r}
	v := d.view("Log in", "", &loginData{LoginCSRF: s.newLoginForm(w), Next: next})
	v.Error = msg
	s.render(w, status, "login", v)
}

// login exchanges a token for a session. Every attempt is audited; a
// failure says nothing about why (unknown, wrong, expired or revoked).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	r.Body = http.MaxBytesReader(w, r.Body, dashMaxForm)
	if err := r.ParseForm(); err != nil {
		s.renderLogin(w, r, formErrorStatus(err), dashboardPrefix, "The form could not be read; try again.")
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if !s.checkLoginForm(r, r.PostForm.Get("csrf")) {
		s.renderLogin(w, r, http.StatusForbidden, next, "The login form expired or was not sent from this page; try again.")
		return
	}
	tok, err := s.Authenticate(r.Context(), strings.TrimSpace(r.PostForm.Get("token")))
	if err != nil {
		if !errors.Is(err, errBadToken) {
			d := &dashReq{s: s, w: w, r: r}
			d.fail(err)
			return
		}
		if aerr := s.Audit(r.Context(), r, nil, "", actionLogin, "", storage.OutcomeDenied, "dashboard login refused: "+errBadToken.Error()); aerr != nil {
			(&dashReq{s: s, w: w, r: r}).fail(aerr)
			return
		}
		s.renderLogin(w, r, http.StatusUnauthorized, next, "That token was not accepted.")
		return
	}
	if err := s.Audit(r.Context(), r, tok, "", actionLogin, "token:"+tok.ID, storage.OutcomeSuccess, "dashboard session started, role "+string(tok.Role)); err != nil {
		(&dashReq{s: s, w: w, r: r, tok: tok}).fail(err)
		return
	}
	s.SetSession(w, tok)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// logout ends the session (the token itself stays valid).
func (s *Server) logout(d *dashReq) error {
	if err := d.audit("", storage.OutcomeSuccess, "dashboard session ended"); err != nil {
		return err
	}
	d.s.ClearSession(d.w)
	http.Redirect(d.w, d.r, dashboardPrefix+"login", http.StatusSeeOther)
	return nil
}

// formErrorStatus is the status of a form that could not be parsed: 413
// when it is larger than dashMaxForm (the reader stopped there), else 400.
func formErrorStatus(err error) int {
	if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

// dashHandler is a page or form handler; an error is rendered as an error
// page (dashError as it is, anything else as a generic 500).
type dashHandler func(d *dashReq) error

// session authenticates the request's session. Without a usable one it
// answers (a redirect to the login page, or a 500 when the store fails)
// and returns nil.
func (s *Server) session(w http.ResponseWriter, r *http.Request) *dashReq {
	d := &dashReq{s: s, w: w, r: r}
	tok, session, err := s.SessionToken(r)
	if err != nil {
		if !errors.Is(err, errBadToken) {
			d.fail(err)
			return nil
		}
		if _, cerr := r.Cookie(sessionCookie); cerr == nil {
			// A stale cookie (expired, or its token revoked) goes.
			s.ClearSession(w)
		}
		to := dashboardPrefix + "login"
		if r.Method == http.MethodGet && r.URL.Path != dashboardPrefix {
			to += "?next=" + url.QueryEscape(r.URL.RequestURI())
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return nil
	}
	d.tok, d.session = tok, session
	return d
}

// dashGet serves a page to any session.
func (s *Server) dashGet(h dashHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		d := s.session(w, r)
		if d == nil {
			return
		}
		if err := h(d); err != nil {
			d.fail(err)
		}
	})
}

// dashPost serves a form: it needs a session, the session's CSRF token in
// the form's "csrf" field, and a token of role need. A missing or wrong
// CSRF token and a role too weak are refused with 403 and audited as
// denied under action, about object (a pattern such as "order:{id}" filled
// from the path).
func (s *Server) dashPost(need storage.Role, action, object string, h dashHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		r.Body = http.MaxBytesReader(w, r.Body, dashMaxForm)
		d := s.session(w, r)
		if d == nil {
			return
		}
		d.action, d.object = action, object
		for k, v := range mux.Vars(r) {
			d.object = strings.ReplaceAll(d.object, "{"+k+"}", v)
		}
		if err := r.ParseForm(); err != nil {
			d.fail(dashErrorf(formErrorStatus(err), "The form could not be read."))
			return
		}
		dir := mux.Vars(r)["name"]
		if !s.CheckCSRF(d.session, r.PostForm.Get("csrf")) {
			if err := d.audit(dir, storage.OutcomeDenied, "the form carried no valid anti-forgery token"); err != nil {
				d.fail(err)
				return
			}
			d.fail(dashErrorf(http.StatusForbidden, "This form was not sent from a page of this dashboard session. Reload the page and try again."))
			return
		}
		if !allows(d.tok.Role, need) {
			if err := d.audit(dir, storage.OutcomeDenied, "role "+string(d.tok.Role)+" may not do this: it needs role "+string(need)); err != nil {
				d.fail(err)
				return
			}
			d.fail(dashErrorf(http.StatusForbidden, "Your token's role (%s) may not do this; it needs role %s.", d.tok.Role, need))
			return
		}
		if err := h(d); err != nil {
			d.fail(err)
		}
	})
}

// audit appends the audit entry of the request's form action.
func (d *dashReq) audit(dir, outcome, detail string) error {
	return d.s.Audit(d.r.Context(), d.r, d.tok, dir, d.action, d.object, outcome, detail)
}
