package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/acmegate/acmegate/storage"
)

// Errors of the admin API are problem documents (RFC 9457) whose type is
// "urn:acmegate:admin:" and a kind. Handlers return ordinary errors; those
// made by the constructors below carry a kind, a status and a detail that
// is safe to show, and every other error becomes a generic 500 whose cause
// is logged only.

// problemTypePrefix starts the type of every admin API problem.
const problemTypePrefix = "urn:acmegate:admin:"

// Problem kinds.
const (
	kindMalformed        = "malformed"
	kindInvalid          = "invalid"
	kindUnauthorized     = "unauthorized"
	kindForbidden        = "forbidden"
	kindNotFound         = "notFound"
	kindConflict         = "conflict"
	kindMethodNotAllowed = "methodNotAllowed"
	kindTooLarge         = "tooLarge"
	kindUnsupportedMedia = "unsupportedMediaType"
	kindUnavailable      = "unavailable"
	kindUpstream         = "upstream"
	kindInternal         = "internal"
)

var problemTitles = map[string]string{
	kindMalformed:        "Malformed request",
	kindInvalid:          "Invalid request field",
	kindUnauthorized:     "Authentication required",
	kindForbidden:        "Forbidden for this role",
	kindNotFound:         "Not found",
	kindConflict:         "Conflict",
	kindMethodNotAllowed: "Method not allowed",
	kindTooLarge:         "Request body too large",
	kindUnsupportedMedia: "Unsupported media type",
	kindUnavailable:      "Not available",
	kindUpstream:         "The certificate authority refused",
	kindInternal:         "Internal server error",
}

// Problem is the body of every error answer of the admin API.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// apiError is an error with a problem kind; its detail is shown to the
// caller and written to the audit trail, so it never holds a secret.
type apiError struct {
	kind   string
	status int
	detail string
}

func (e *apiError) Error() string { return e.kind + ": " + e.detail }

// maxDetail bounds a problem's detail: details quote what the caller sent,
// and they also go to the audit trail.
const maxDetail = 1024

func newAPIError(kind string, status int, format string, args ...any) *apiError {
	return &apiError{kind: kind, status: status, detail: truncate(fmt.Sprintf(format, args...), maxDetail)}
}

// malformed: the request cannot be read (not JSON, unknown field).
func malformed(format string, args ...any) error {
	return newAPIError(kindMalformed, http.StatusBadRequest, format, args...)
}

// invalid: field has a value the API does not accept; the detail names it.
func invalid(field, format string, args ...any) error {
	return newAPIError(kindInvalid, http.StatusBadRequest, "%s: %s", field, fmt.Sprintf(format, args...))
}

func notFound(format string, args ...any) error {
	return newAPIError(kindNotFound, http.StatusNotFound, format, args...)
}

func conflict(format string, args ...any) error {
	return newAPIError(kindConflict, http.StatusConflict, format, args...)
}

func forbidden(format string, args ...any) error {
	return newAPIError(kindForbidden, http.StatusForbidden, format, args...)
}

func unavailable(format string, args ...any) error {
	return newAPIError(kindUnavailable, http.StatusNotImplemented, format, args...)
}

// errUnauthenticated and errBadCredentials are the two 401s: no bearer
// token at all, or one that does not authenticate.
var (
	errUnauthenticated = newAPIError(kindUnauthorized, http.StatusUnauthorized, "send an admin token: Authorization: Bearer acmegate_…")
	errBadCredentials  = newAPIError(kindUnauthorized, http.StatusUnauthorized, "the bearer token is invalid, expired or revoked")
)

// errAuditFailed: a mutation succeeded but its audit entry could not be
// written. The caller must know, because the change is not in the trail.
var errAuditFailed = newAPIError(kindInternal, http.StatusInternalServerError,
	"the change was made but its audit entry could not be written; see the server log")

// publicDetail is what the caller and the audit trail learn of err.
func publicDetail(err error) string {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.detail
	}
	return "internal error"
}

// storeError turns a storage sentinel into its problem, with what naming
// the object ("order 123"), or returns err unchanged.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return notFound("%s does not exist", what)
	case errors.Is(err, storage.ErrConflict):
		return conflict("%s was changed by someone else or is in a state that does not allow this", what)
	}
	return err
}

// writeProblem answers with err as a problem document. Errors without a
// kind are logged with their cause and answered with a generic 500.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		s.log.Error("admin API request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Any("error", err))
		ae = newAPIError(kindInternal, http.StatusInternalServerError, "the server could not complete the request; the cause is in its log")
	}
	if ae.status == http.StatusUnauthorized {
		// RFC 6750 §3: tell the client which scheme to use, and that a
		// token it sent was refused.
		v := `Bearer realm="acmegate-admin"`
		if ae == errBadCredentials {
			v += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	writeJSON(w, ae.status, "application/problem+json", Problem{
		Type:   problemTypePrefix + ae.kind,
		Title:  problemTitles[ae.kind],
		Status: ae.status,
		Detail: ae.detail,
	})
}

// writeJSON writes v as the response body.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		// Every value written here is built from plain fields: a failure
		// is a programming error, and the client gets a bare 500.
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(body)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// fieldPath names the field of a decoding error: the decoder reports the
// JSON path from the root ("settings.policy.max_names"), or nothing for the
// body itself.
func fieldPath(f string) string {
	if f == "" {
		return "body"
	}
	return f
}
