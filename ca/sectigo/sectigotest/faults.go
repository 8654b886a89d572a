package sectigotest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"
)

// Fault changes the fake's answers to the next requests it matches. Faults
// are consumed in the order they were injected; a request takes at most one.
type Fault struct {
	// Path limits the fault to requests whose path contains it ("" matches
	// every request), e.g. "/collect/" or "/enroll".
	Path string
	// Count is how many requests the fault affects. Default: 1.
	Count int
	// Delay holds the answer back this long, or until the client gives up.
	Delay time.Duration
	// Status, when not zero, answers with Status, Header and Body instead
	// of the real answer.
	Status int
	Header http.Header
	Body   string
	// Handle handles the request first, with all its effects (an
	// enrollment, a revocation), before Status replaces the answer: SCM
	// acted but its answer was lost on the way, as behind a failing proxy.
	Handle bool
	// Corrupt handles the request and sends its real answer mangled: the
	// status is kept, the body is cut in half and garbled.
	Corrupt bool

	left int
}

// InjectFault queues f.
func (s *Server) InjectFault(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	f.left = f.Count
	f.Header = f.Header.Clone()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// RateLimit answers the next count requests with 429, a Retry-After of
// retryAfter (whole seconds) and an SCM error body. SCM documents no rate
// limit; the shape is the fake's choice (docs/backends.md, "What the fakes assume").
func (s *Server) RateLimit(count int, retryAfter time.Duration) {
	h := http.Header{"Content-Type": {"application/json;charset=UTF-8"}}
	h.Set("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	s.InjectFault(Fault{Count: count, Status: http.StatusTooManyRequests, Header: h,
		Body: `{"code":-429,"description":"Too many requests, please retry later"}`})
}

// FailNext answers the next count requests with status (say 502 or 503)
// and an HTML error page, as a load balancer in front of SCM would.
func (s *Server) FailNext(count, status int) {
	text := http.StatusText(status)
	s.InjectFault(Fault{Count: count, Status: status, Header: http.Header{"Content-Type": {"text/html"}},
		Body: "<html><head><title>" + strconv.Itoa(status) + " " + text + "</title></head><body><h1>" + text + "</h1></body></html>"})
}

// FailWithCode answers the next count requests whose path contains path
// with status and SCM's JSON error {"code":code,"description":description},
// e.g. 400 and -195 "CA not available now".
func (s *Server) FailWithCode(path string, count, status, code int, description string) {
	s.InjectFault(Fault{Path: path, Count: count, Status: status,
		Header: http.Header{"Content-Type": {"application/json;charset=UTF-8"}},
		Body:   errorBody(code, description)})
}

// SlowDown delays the next count answers by d.
func (s *Server) SlowDown(count int, d time.Duration) {
	s.InjectFault(Fault{Count: count, Delay: d})
}

// CorruptNext handles the next count requests whose path contains path and
// mangles their answers.
func (s *Server) CorruptNext(path string, count int) {
	s.InjectFault(Fault{Path: path, Count: count, Corrupt: true})
}

// takeFault consumes the first queued fault matching path.
func (s *Server) takeFault(path string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Path != "" && !strings.Contains(path, f.Path) {
			continue
		}
		f.left--
		if f.left <= 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		}
		cp := *f
		return &cp
	}
	return nil
}

// applyFault answers r according to f. It reports false when the request
// should be handled normally.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, f *Fault) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			// Abort rather than return: returning would send an empty
			// 200 that a client could still read.
			panic(http.ErrAbortHandler)
		}
	}
	if f.Corrupt || (f.Handle && f.Status != 0) {
		rec := httptest.NewRecorder()
		s.authAndRoute(rec, r)
		if f.Status == 0 {
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(mangle(rec.Body.Bytes()))
			return true
		}
	}
	if f.Status == 0 {
		return false
	}
	for k, v := range f.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(f.Status)
	io.WriteString(w, f.Body)
	return true
}

// mangle cuts body in half and appends bytes no JSON or PEM reader accepts.
func mangle(body []byte) []byte {
	out := bytes.Clone(body[:len(body)/2])
	return append(out, "\x00<<garbled>>{"...)
}
