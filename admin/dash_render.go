package admin

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// The dashboard is server-rendered html/template pages embedded in the
// binary, with one small hand-written style sheet and no JavaScript at all:
// nothing to build, and a Content-Security-Policy that allows no script.

//go:embed templates/*.html
var dashTemplateFS embed.FS

//go:embed static
var dashStaticFS embed.FS

// dashPages are the parsed page templates, by page name. Each is the
// layout plus one page file; they are parsed once and never modified.
var dashPages = parseDashPages()

func parseDashPages() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(dashFuncs).ParseFS(dashTemplateFS, "templates/layout.html"))
	files, err := fs.Glob(dashTemplateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := make(map[string]*template.Template)
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(dashTemplateFS, f))
	}
	return pages
}

// dashFuncs are the helpers templates format values with.
var dashFuncs = template.FuncMap{
	"when":       dashTime,
	"minute":     dashMinute,
	"until":      timeUntil,
	"objectLink": objectLink,
	"date":       dashDate,
	"join":       strings.Join,
	"badge":      badgeClass,
	"daysLeft":   dashDaysLeft,
	"urgency":    urgency,
	"short":      shortID,
	"names":      identifierNames,
}

// objectLink is the dashboard page of an audit entry's object, if it has
// one.
func objectLink(object string) string {
	if id, ok := strings.CutPrefix(object, "order:"); ok && id != "" {
		return dashboardPrefix + "orders/" + url.PathEscape(id)
	}
	return ""
}

// dashTime shows a time to the second, in UTC; zero shows a dash.
func dashTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// dashMinute shows a time to the minute, for table cells.
func dashMinute(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func dashDate(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02")
}

// badgeClass is the CSS class of a status badge.
func badgeClass(status string) string {
	switch status {
	case "valid", "approved", "success", "delivered", "issued":
		return "badge ok"
	case "invalid", "revoked", "rejected", "denied", "failure", "failed", "deactivated", "expired":
		return "badge bad"
	case "processing", "revocation-pending", "pending approval", "awaiting approval":
		return "badge warn"
	case "pending", "ready":
		return "badge info"
	}
	return "badge"
}

// dashDaysLeft counts whole days from now to t, as the CSV export does.
func dashDaysLeft(t, now time.Time) int { return int(t.Sub(now).Hours() / 24) }

// urgency is the class of a days-left cell: under 7 days is urgent, under
// 30 a warning.
func urgency(days int) string {
	switch {
	case days < 7:
		return "days urgent"
	case days < 30:
		return "days soon"
	}
	return "days"
}

// shortID abbreviates a long identifier for a table cell (the full one is
// on the linked page).
func shortID(id string) string {
	if len(id) <= 13 {
		return id
	}
	return id[:8] + "…"
}

func identifierNames(ids []storage.Identifier) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = id.Value
	}
	return strings.Join(names, ", ")
}

// dashView is what every page template receives: the layout's fields and
// the page's own Data.
type dashView struct {
	Title   string
	Nav     string
	Token   *storage.AdminToken
	CSRF    string
	Version string
	Now     time.Time
	// Flash is a confirmation after a form, Error a refusal.
	Flash string
	Error string
	Data  any
}

// CanOperate reports whether the viewer may approve, reject and revoke.
func (v *dashView) CanOperate() bool {
	return v.Token != nil && allows(v.Token.Role, storage.RoleOperator)
}

// IsAdmin reports whether the viewer may manage directories and EAB keys.
func (v *dashView) IsAdmin() bool { return v.Token != nil && allows(v.Token.Role, storage.RoleAdmin) }

// dashError is a refusal the operator sees as it is.
type dashError struct {
	status int
	msg    string
}

func (e *dashError) Error() string { return e.msg }

func dashErrorf(status int, format string, args ...any) error {
	return &dashError{status: status, msg: fmt.Sprintf(format, args...)}
}

// setSecurityHeaders sets the headers every dashboard answer carries: no
// script at all, no framing (clickjacking), no referrer (order and
// certificate ids stay on the server), no MIME sniffing, no caching of
// pages that show inventory data or a one-time EAB key.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// dashReq is one dashboard request with its session.
type dashReq struct {
	s   *Server
	w   http.ResponseWriter
	r   *http.Request
	tok *storage.AdminToken
	// session is the session cookie's value, which CSRF tokens derive from.
	session string
	// action and object are what a form's audit entries record.
	action, object string
}

// view starts the view of a page with the layout's fields filled in.
func (d *dashReq) view(title, nav string, data any) *dashView {
	return &dashView{
		Title: title, Nav: nav, Token: d.tok, CSRF: d.s.CSRFToken(d.session),
		Version: d.s.cfg.Version, Now: d.s.clock.Now(), Data: data,
	}
}

// render writes page with v at status. The page is executed into a buffer
// first so that a template failure becomes a clean 500, not half a page.
func (s *Server) render(w http.ResponseWriter, status int, page string, v *dashView) {
	t, ok := dashPages[page]
	if !ok {
		s.log.Error("dashboard page missing", slog.String("page", page))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		s.log.Error("render dashboard page", slog.String("page", page), slog.Any("error", err))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail renders err as an error page: a dashError as it is, anything else
// as a generic internal error (the cause is logged, not shown).
func (d *dashReq) fail(err error) {
	var de *dashError
	if !errors.As(err, &de) {
		d.s.log.Error("dashboard request failed", slog.String("path", d.r.URL.Path), slog.Any("error", err))
		de = &dashError{status: http.StatusInternalServerError, msg: "Something went wrong on the server; the details are in its log."}
	}
	v := d.view(http.StatusText(de.status), "", nil)
	v.Error = de.msg
	d.s.render(d.w, de.status, "error", v)
}

// redirect answers a form with 303 See Other to path (a dashboard path),
// carrying a flash message key.
func (d *dashReq) redirect(path, flash string) {
	if flash != "" {
		path += "?done=" + url.QueryEscape(flash)
	}
	http.Redirect(d.w, d.r, path, http.StatusSeeOther)
}

// dashFlashes are the confirmations a redirect may ask a page to show: a fixed
// set, so that a crafted link cannot make the dashboard say anything else.
var dashFlashes = map[string]string{
	"approved":       "The order was approved; its issuance proceeds.",
	"rejected":       "The order was rejected; the subscriber sees the reason.",
	"revoked":        "The certificate is revoked.",
	"revoke-pending": "The certificate authority could not be reached: the revocation is pending and will be retried.",
}

// flash is the confirmation the request's "done" parameter names, if any.
func (d *dashReq) flash() string { return dashFlashes[d.r.URL.Query().Get("done")] }

// query returns a trimmed query parameter.
func (d *dashReq) query(name string) string { return strings.TrimSpace(d.r.URL.Query().Get(name)) }

// queryInt returns a positive integer query parameter, or def.
func (d *dashReq) queryInt(name string, def int) (int, error) {
	v := d.query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, dashErrorf(http.StatusBadRequest, "%s must be a whole number of days, not %q", name, v)
	}
	return n, nil
}

// querySince reads a "since" filter: a date from a date input
// (2026-01-31), an RFC 3339 time, or a span back from now (7d, 36h).
func (d *dashReq) querySince(name string) (time.Time, error) {
	v := d.query(name)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := ParseSince(v, d.s.clock.Now())
	if err != nil {
		return time.Time{}, dashErrorf(http.StatusBadRequest, "%s: %v", name, err)
	}
	return t, nil
}

// queryEnum returns a query parameter that must be one of allowed (or "").
func (d *dashReq) queryEnum(name string, allowed ...string) (string, error) {
	v := d.query(name)
	if v == "" {
		return "", nil
	}
	for _, a := range allowed {
		if v == a {
			return v, nil
		}
	}
	return "", dashErrorf(http.StatusBadRequest, "%s must be one of %s, not %q", name, strings.Join(allowed, ", "), v)
}

// dashPageSize is how many rows a listing page shows.
const dashPageSize = 50

// dashPager carries a listing's cursor and the links to its neighbours.
type dashPager struct {
	// Next is the URL of the next page, "" on the last one; First is the
	// URL of the first page, "" when this is the first.
	Next, First string
}

// page reads the request's cursor and returns the storage page to ask for.
func (d *dashReq) page() storage.Page {
	return storage.Page{Cursor: d.query("cursor"), Limit: dashPageSize}
}

// pagerFor builds the links of a listing: the same filters, the next
// cursor.
func (d *dashReq) pagerFor(next string) dashPager {
	q := d.r.URL.Query()
	var p dashPager
	if q.Get("cursor") != "" {
		q.Del("cursor")
		p.First = d.r.URL.Path + "?" + q.Encode()
	}
	if next != "" {
		q.Set("cursor", next)
		p.Next = d.r.URL.Path + "?" + q.Encode()
	}
	return p
}

// dashListError turns a storage failure on a crafted cursor into a 400,
// as listError does for the API.
func dashListError(what string, p storage.Page, err error) error {
	if p.Cursor != "" && errors.Is(err, storage.ErrBadCursor) {
		return dashErrorf(http.StatusBadRequest, "This page link is not valid; start again from the first page.")
	}
	return fmt.Errorf("%s: %w", what, err)
}
