package acme_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

// idTransport gives every request its own X-Request-Id and remembers which
// went with which POST.
type idTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	n    int
	// byPath maps "METHOD path" to the ids sent with it, in order.
	byPath map[string][]string
}

func (tr *idTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tr.mu.Lock()
	tr.n++
	id := fmt.Sprintf("client-%d", tr.n)
	key := r.Method + " " + r.URL.Path
	tr.byPath[key] = append(tr.byPath[key], id)
	tr.mu.Unlock()
	r = r.Clone(r.Context())
	r.Header.Set("X-Request-Id", id)
	return tr.base.RoundTrip(r)
}

// ids returns the ids sent with requests whose "METHOD path" ends in suffix.
func (tr *idTransport) ids(method, suffix string) []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	var out []string
	for k, v := range tr.byPath {
		if strings.HasPrefix(k, method+" ") && strings.HasSuffix(k, suffix) {
			out = append(out, v...)
		}
	}
	return out
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRequestIDs: a client's acceptable X-Request-Id is kept, anything else
// replaced; the response carries it, the request's log event has it, and
// the timeline events the request caused record it.
func TestRequestIDs(t *testing.T) {
	logs := &syncBuffer{}
	e := newEnv(t, envOptions{logger: slog.New(slog.NewJSONHandler(logs, nil))})
	ctx := testCtx(t)

	generated := regexp.MustCompile(`^[A-Z2-7]{26}$`)
	for _, tc := range []struct {
		sent string
		keep bool
	}{
		{"lb-7f3a.9_Z-1", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"has space", false},
		{"inject\"quote", false},
		{"ünïcode", false},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.url+"/directory", nil)
		if tc.sent != "" {
			req.Header.Set("X-Request-Id", tc.sent)
		}
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Get("X-Request-Id")
		if tc.keep && got != tc.sent {
			t.Errorf("sent %q, got %q back, want it kept", tc.sent, got)
		}
		if !tc.keep && !generated.MatchString(got) {
			t.Errorf("sent %q, got %q back, want a generated id", tc.sent, got)
		}
	}
	// Two requests without an id get different ones.
	var seen []string
	for range 2 {
		resp, err := e.client.Get(e.url + "/directory")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		seen = append(seen, resp.Header.Get("X-Request-Id"))
	}
	if seen[0] == seen[1] {
		t.Errorf("two requests got the same id %q", seen[0])
	}

	tr := &idTransport{base: e.client.Transport, byPath: map[string][]string{}}
	c := &xacme.Client{Key: newECKey(t), DirectoryURL: e.url + "/directory", HTTPClient: &http.Client{Transport: tr}}
	if _, err := c.Register(ctx, &xacme.Account{}, xacme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	leaf := e.issue(ctx, c, "http-01", newECKey(t), "request-id.example.com")[0]
	cert, err := e.store.GetCertificateBySerial(ctx, leaf.SerialNumber.Text(16))
	if err != nil {
		t.Fatal(err)
	}
	ord, err := e.store.GetOrder(ctx, cert.OrderID)
	if err != nil {
		t.Fatal(err)
	}
	events, err := e.store.ListOrderEvents(ctx, ord.ID, ord.AuthzIDs)
	if err != nil {
		t.Fatal(err)
	}
	authzs, err := e.store.GetAuthorizations(ctx, ord.AuthzIDs)
	if err != nil {
		t.Fatal(err)
	}
	var chID string
	for _, ch := range authzs[0].Challenges {
		if ch.Type == storage.ChallengeHTTP01 {
			chID = ch.ID
		}
	}
	newOrder, finalize, answer := tr.ids("POST", "/new-order"), tr.ids("POST", "/finalize"), tr.ids("POST", "/chall/"+chID)
	if len(newOrder) != 1 || len(finalize) != 1 || len(answer) != 1 {
		t.Fatalf("new-order ids %v, finalize ids %v, challenge ids %v, want one each", newOrder, finalize, answer)
	}
	want := map[string]string{
		acme.EventCreated:           newOrder[0],
		acme.EventValidated:         answer[0], // validated inside the challenge request
		acme.EventFinalizeRequested: finalize[0],
		acme.EventIssued:            finalize[0], // issued inside the finalize request
	}
	for _, ev := range events {
		if w, ok := want[ev.Kind]; ok && ev.RequestID != w {
			t.Errorf("%s event has request id %q, want %q", ev.Kind, ev.RequestID, w)
		}
	}

	// The request's one log event names its id and route.
	found := false
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != "acme request" {
			continue
		}
		if line["request_id"] == newOrder[0] {
			found = true
			if line["route"] != "new-order" || line["status"] != float64(201) || line["client_ip"] != "127.0.0.1" || line["order"] != ord.ID {
				t.Errorf("log event of the new-order request = %v", line)
			}
		}
	}
	if !found {
		t.Errorf("no log event with request_id %q", newOrder[0])
	}
}
