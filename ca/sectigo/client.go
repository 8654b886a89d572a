package sectigo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/acmegate/acmegate/ca"
)

// maxBody caps what is read of any answer. A collected bundle is a few
// kilobytes and a 200-entry listing well under a megabyte; anything larger
// is not SCM talking.
const maxBody = 4 << 20

// client sends authenticated requests to one SCM instance.
type client struct {
	base                         *url.URL
	http                         *http.Client
	timeout                      time.Duration
	customerURI, login, password string
	certAuth                     bool
	log                          *slog.Logger
	now                          func() time.Time
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// call sends in (if not nil) as JSON and decodes a 2xx answer into out (if
// not nil). Any other answer becomes a *ca.Error through statusError; op
// names the operation for its Detail ("enroll the certificate").
func (c *client) call(ctx context.Context, op, method, path string, query url.Values, in, out any) error {
	r, err := c.send(ctx, op, method, path, query, in)
	if err != nil {
		return err
	}
	if r.status < 200 || r.status > 299 {
		return c.statusError(op, r)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.body, out); err != nil {
		return &ca.Error{
			Kind:     ca.Unavailable,
			Detail:   "Sectigo Certificate Manager sent an answer acmegate cannot read while trying to " + op,
			Upstream: c.excerpt(r),
			Err:      err,
		}
	}
	return nil
}

// send performs one request and reads the answer, whatever its status. Only
// a request that got no answer is an error (ca.Unavailable).
func (c *client) send(ctx context.Context, op, method, path string, query url.Values, in any) (*response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, &ca.Error{Kind: ca.Unavailable, Detail: "cannot encode the request to " + op, Err: err}
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, &ca.Error{Kind: ca.Unavailable, Detail: "cannot build the request to " + op, Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json;charset=UTF-8")
	}
	// upstream-apis.md §1.1: login, password and customerUri on every call,
	// no password with a client certificate. The names are set as SCM
	// documents them; Go would otherwise send "Customeruri".
	req.Header["customerUri"] = []string{c.customerURI}
	req.Header["login"] = []string{c.login}
	if !c.certAuth {
		req.Header["password"] = []string{c.password}
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.log.DebugContext(ctx, "sectigo request failed", "op", op, "method", method, "path", u.Path, "duration", time.Since(start), "error", err)
		return nil, c.transportError(op, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	c.log.DebugContext(ctx, "sectigo request", "op", op, "method", method, "path", u.Path, "status", resp.StatusCode, "bytes", len(b), "duration", time.Since(start))
	if err != nil {
		return nil, c.transportError(op, err)
	}
	if len(b) > maxBody {
		return nil, &ca.Error{Kind: ca.Unavailable, Detail: "Sectigo Certificate Manager sent an answer of more than 4 MiB while trying to " + op}
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// transportError classifies a request that got no (complete) answer. The
// cause's text names the URL, never a header, so it carries no credential.
func (c *client) transportError(op string, err error) *ca.Error {
	detail := "cannot reach Sectigo Certificate Manager to " + op
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		detail = "Sectigo Certificate Manager did not answer in time to " + op
	}
	return &ca.Error{Kind: ca.Unavailable, Detail: detail, Err: err}
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
