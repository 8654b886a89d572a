package acme_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
)

// The hostile-input catalogue (issue 8, item 2): one table of malformed,
// replayed, oversized, mis-signed, mis-routed and out-of-order requests
// against every endpoint, each sent by the raw client over real HTTP to the
// in-process server. For every case the test checks the exact problem type
// and HTTP status, the problem+json content type, a non-empty detail, the
// subproblems RFC 8555 §6.7.1 asks for, a fresh Replay-Nonce (RFC 8555
// §6.5), and that the database did not change.
//
// The cases live in hostile_jws_test.go (transport, JWS, nonces),
// hostile_account_test.go (newAccount, account, orders list, keyChange) and
// hostile_order_test.go (identifiers, orders, authorizations, challenges,
// finalize, certificates, revocation, ARI, routing). They include every
// case of the former TestHostileRequests. Three neighbouring tests go
// further than a refusal and stay where they are:
// TestRejectedIdentifiersHaveSubproblems, TestFinalizeWithExtraNameIsBadCSR
// (the order still finalizes after its refusals) and
// TestKeyChangeInnerJWSRules (the key change then succeeds).

// Full problem type URNs (RFC 8555 §6.7), spelled out rather than taken from
// the package so the test pins the wire value.
const (
	urnAccountDoesNotExist     = "urn:ietf:params:acme:error:accountDoesNotExist"
	urnAlreadyRevoked          = "urn:ietf:params:acme:error:alreadyRevoked"
	urnBadCSR                  = "urn:ietf:params:acme:error:badCSR"
	urnBadNonce                = "urn:ietf:params:acme:error:badNonce"
	urnBadPublicKey            = "urn:ietf:params:acme:error:badPublicKey"
	urnBadRevocationReason     = "urn:ietf:params:acme:error:badRevocationReason"
	urnBadSignatureAlgorithm   = "urn:ietf:params:acme:error:badSignatureAlgorithm"
	urnCompound                = "urn:ietf:params:acme:error:compound"
	urnExternalAccountRequired = "urn:ietf:params:acme:error:externalAccountRequired"
	urnInvalidContact          = "urn:ietf:params:acme:error:invalidContact"
	urnInvalidProfile          = "urn:ietf:params:acme:error:invalidProfile"
	urnMalformed               = "urn:ietf:params:acme:error:malformed"
	urnOrderNotReady           = "urn:ietf:params:acme:error:orderNotReady"
	urnRateLimited             = "urn:ietf:params:acme:error:rateLimited"
	urnRejectedIdentifier      = "urn:ietf:params:acme:error:rejectedIdentifier"
	urnUnauthorized            = "urn:ietf:params:acme:error:unauthorized"
	urnUnsupportedContact      = "urn:ietf:params:acme:error:unsupportedContact"
	urnUnsupportedIdentifier   = "urn:ietf:params:acme:error:unsupportedIdentifier"
)

// hostileCase is one request of the catalogue and the refusal it must get.
type hostileCase struct {
	name string
	// req sends the request and returns the response.
	req func(t *testing.T) *rawResponse
	// status and typ are the expected HTTP status and problem type.
	status int
	typ    string
	// detail, when set, must occur in the problem's detail: it pins the
	// reason, so a case cannot pass by failing an earlier check by
	// accident.
	detail string
	// sub maps every identifier value (as sent) that must have a
	// subproblem to the subproblem's type. Nil: the problem must carry no
	// subproblems.
	sub map[string]string
	// allow is the Allow header a 405 must carry.
	allow string
	// also checks anything else the case promises.
	also func(t *testing.T, r *rawResponse)
}

func TestHostileCatalogue(t *testing.T) {
	w := newHostileWorld(t)
	cases := slices.Concat(
		w.transportCases(), w.jwsCases(), w.nonceCases(), w.newAccountCases(), w.accountCases(), w.keyChangeCases(),
		w.identifierCases(), w.newOrderCases(), w.authzCases(), w.challengeCases(), w.finalizeCases(),
		w.resourceCases(), w.revokeCases(), w.renewalInfoCases(), w.routingCases(),
	)
	if len(cases) < 60 {
		t.Fatalf("the catalogue has %d cases; the issue asks for at least 60", len(cases))
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("case %q appears twice", tc.name)
		}
		seen[tc.name] = true
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := w.state(t)
			r := tc.req(t)
			checkHostileResponse(t, tc, r)
			w.assertUnchanged(t, before, w.state(t))
		})
	}
	// The snapshot is not blind: an accepted order shows up in it.
	before := w.state(t)
	if r := w.newOrder(orderOf("accepted.example.com")); r.status != http.StatusCreated {
		t.Fatalf("a good order after the catalogue: %d %s", r.status, r.body)
	}
	after := w.state(t)
	for _, table := range []string{"orders", "authorizations", "challenges", "audit_log"} {
		if len(after[table]) <= len(before[table]) {
			t.Errorf("the snapshot did not see the new order's rows in %s", table)
		}
	}
}

// checkHostileResponse checks the refusal r against what tc expects.
func checkHostileResponse(t *testing.T, tc hostileCase, r *rawResponse) {
	t.Helper()
	if got := r.header.Get("Content-Type"); got != "application/problem+json" {
		t.Fatalf("got %d with Content-Type %q, want %d problem %s: %s", r.status, got, tc.status, tc.typ, truncateBody(r.body))
	}
	p := r.problem
	if r.status != tc.status || p.Type != tc.typ {
		t.Fatalf("got %d %s (%s), want %d %s", r.status, p.Type, p.Detail, tc.status, tc.typ)
	}
	if p.Status != tc.status {
		t.Errorf("problem status member = %d, want %d", p.Status, tc.status)
	}
	if strings.TrimSpace(p.Detail) == "" {
		t.Error("problem has no detail")
	}
	if tc.detail != "" && !strings.Contains(p.Detail, tc.detail) {
		t.Errorf("detail %q does not say %q", p.Detail, tc.detail)
	}
	// RFC 8555 §6.5: every response, errors included, carries a fresh
	// nonce so the client can retry at once.
	if r.header.Get("Replay-Nonce") == "" {
		t.Error("the error carries no Replay-Nonce")
	}
	if tc.allow != "" && r.header.Get("Allow") != tc.allow {
		t.Errorf("Allow = %q, want %q", r.header.Get("Allow"), tc.allow)
	}
	got := map[string]string{}
	for _, sp := range p.Subproblems {
		if sp.Identifier == nil {
			t.Errorf("subproblem without identifier: %+v", sp)
			continue
		}
		if sp.Detail == "" {
			t.Errorf("subproblem for %q has no detail", sp.Identifier.Value)
		}
		if _, dup := got[sp.Identifier.Value]; dup {
			t.Errorf("two subproblems for %q", sp.Identifier.Value)
		}
		got[sp.Identifier.Value] = sp.Type
	}
	want := tc.sub
	if want == nil {
		want = map[string]string{}
	}
	for id, typ := range want {
		if got[id] != typ {
			t.Errorf("subproblem for %q = %q, want %q", id, got[id], typ)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("unexpected subproblem for %q (%s)", id, got[id])
		}
	}
	if tc.also != nil {
		tc.also(t, r)
	}
}

func truncateBody(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "…"
	}
	return string(b)
}

// hostileWorld is the server the catalogue attacks, with the accounts,
// orders, authorizations and certificates its cases need, all made before
// the first case and never changed by one.
type hostileWorld struct {
	t     *testing.T
	e     *env
	clock *offsetClock
	// db is a read-only view of the server's SQLite file.
	db *sql.DB
	// base is the default directory's URL prefix.
	base string

	// good owns everything below; other is a second account of the same
	// directory; dead is deactivated; foreign lives in directory "other";
	// limited in directory "limited", whose one order per hour is used;
	// roller is the account the keyChange cases try to roll over.
	good, other, dead, foreign, limited, roller *rawClient

	// A pending order with its pending authorization and http-01
	// challenge.
	pendingOrder, pendingFinalize, pendingAuthz, pendingChall string
	// An authorization whose http-01 validation failed, and its dns-01
	// challenge, which is still pending.
	invalidAuthz, invalidChall string
	// A ready order and its names.
	readyOrder, readyFinalize string
	readyNames                []string
	// A valid order, its certificate's URL, DER and ARI identifier.
	validOrder, validFinalize, validCert string
	validDER                             []byte
	validCertID                          string
	// A certificate of good's that is revoked.
	revokedDER []byte
}

// deniedDomain is refused by the default directory's policy.
const deniedDomain = "denied.example.net"

func newHostileWorld(t *testing.T) *hostileWorld {
	t.Helper()
	clock := &offsetClock{}
	e := newEnv(t, envOptions{
		clock:    clock,
		settings: acme.DirectorySettings{Policy: acme.PolicySettings{DeniedDomains: []string{deniedDomain}}},
		dirs: []acme.DirectoryDefinition{
			{Name: "other"},
			{Name: "limited", Settings: acme.DirectorySettings{RateLimits: acme.RateLimitSettings{AccountOrdersPerHour: 1}}},
			{Name: "eab", Settings: acme.DirectorySettings{ExternalAccountRequired: true}},
		},
	})
	ctx := testCtx(t)
	w := &hostileWorld{t: t, e: e, clock: clock, base: e.url + "/acme/default"}

	w.good = e.rawAccount("default")
	w.other = e.rawAccount("default")
	w.roller = e.rawAccount("default")
	w.dead = e.rawAccount("default")
	if r := w.dead.post(w.dead.kid, w.dead.jws(w.dead.header(w.dead.kid), []byte(`{"status":"deactivated"}`))); r.status != http.StatusOK {
		t.Fatalf("deactivate: %d %s", r.status, r.body)
	}
	w.foreign = e.rawAccount("other")
	w.limited = e.rawAccount("limited")
	if _, _, r := w.limited.order("limited", `{"identifiers":[{"type":"dns","value":"limited.example.com"}]}`); r.status != http.StatusCreated {
		t.Fatalf("the limited directory's first order: %d %s", r.status, r.body)
	}

	c := &xacme.Client{Key: w.good.key, KID: xacme.KeyID(w.good.kid), DirectoryURL: e.url + "/directory", HTTPClient: e.client}

	o, err := c.AuthorizeOrder(ctx, idsOf("pending.example.com"))
	if err != nil {
		t.Fatal(err)
	}
	w.pendingOrder, w.pendingFinalize, w.pendingAuthz = o.URI, o.FinalizeURL, o.AuthzURLs[0]
	z, err := c.GetAuthorization(ctx, w.pendingAuthz)
	if err != nil {
		t.Fatal(err)
	}
	w.pendingChall = challengeOf(t, z, "http-01").URI

	// An http-01 answer with nothing provisioned fails: no address for
	// the name, and the retry window is off, so the authorization becomes
	// invalid while its dns-01 challenge stays pending.
	_, z, ch := e.orderChallenge(ctx, c, "invalid.example.com", "http-01")
	w.invalidAuthz, w.invalidChall = z.URI, challengeOf(t, z, "dns-01").URI
	if _, err := c.Accept(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitAuthorization(ctx, w.invalidAuthz); err == nil {
		t.Fatal("the unprovisioned validation succeeded")
	}

	w.readyNames = []string{"ready.example.com", "ready2.example.com"}
	o, err = c.AuthorizeOrder(ctx, idsOf(w.readyNames...))
	if err != nil {
		t.Fatal(err)
	}
	e.solve(ctx, c, o, "http-01")
	w.readyOrder, w.readyFinalize = o.URI, o.FinalizeURL

	var chain [][]byte
	w.validOrder, w.validFinalize, w.validCert, chain = w.issueOrder(ctx, c, "valid.example.com")
	w.validDER = chain[0]
	leaf, err := x509.ParseCertificate(w.validDER)
	if err != nil {
		t.Fatal(err)
	}
	w.validCertID = ariCertID(leaf)

	_, _, _, chain = w.issueOrder(ctx, c, "revoked.example.com")
	w.revokedDER = chain[0]
	if err := c.RevokeCert(ctx, nil, w.revokedDER, xacme.CRLReasonSuperseded); err != nil {
		t.Fatalf("revoke: %v", err)
	}

	// Nothing may write behind the cases' backs: stop the job runner (it
	// waits for jobs in flight) so the snapshots before and after a case
	// see only what the case did.
	e.stopJobs()

	w.db, err = sql.Open("sqlite", (&url.URL{Scheme: "file", Path: e.dbPath, RawQuery: "_query_only=1"}).String())
	if err != nil {
		t.Fatal(err)
	}
	w.db.SetMaxOpenConns(1)
	t.Cleanup(func() { w.db.Close() })
	return w
}

// issueOrder orders name, solves it and finalizes it, returning the order,
// finalize and certificate URLs and the chain.
func (w *hostileWorld) issueOrder(ctx context.Context, c *xacme.Client, name string) (order, finalize, cert string, chain [][]byte) {
	w.t.Helper()
	o, err := c.AuthorizeOrder(ctx, idsOf(name))
	if err != nil {
		w.t.Fatal(err)
	}
	w.e.solve(ctx, c, o, "http-01")
	der, err := x509.CreateCertificateRequest(rand.Reader, csrTemplate([]string{name}), newECKey(w.t))
	if err != nil {
		w.t.Fatal(err)
	}
	chain, certURL, err := c.CreateOrderCert(ctx, o.FinalizeURL, der, true)
	if err != nil {
		w.t.Fatalf("finalize %s: %v", name, err)
	}
	return o.URI, o.FinalizeURL, certURL, chain
}

// dbState is the content of every table but nonces, as a multiset of rows
// per table. Nonce redemption is the one write a refused request makes on
// purpose (RFC 8555 §6.5: a nonce is spent once the signature verified,
// whatever happens next). Refused requests write no audit or timeline
// entry (acme/audit.go audits what was done, not what was refused), so
// audit_log and order_events are compared like every other table.
type dbState map[string]map[string]int

func (w *hostileWorld) state(t *testing.T) dbState {
	t.Helper()
	ctx := testCtx(t)
	conn, err := w.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// One read transaction, so the snapshot is of one moment.
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	defer func() { _, _ = conn.ExecContext(ctx, "ROLLBACK") }()
	rows, err := conn.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(tables, "orders") || !slices.Contains(tables, "audit_log") {
		t.Fatalf("unexpected schema: tables %v", tables)
	}
	out := dbState{}
	for _, table := range tables {
		if table == "nonces" {
			continue
		}
		out[table] = tableRows(ctx, t, conn, table)
	}
	return out
}

func tableRows(ctx context.Context, t *testing.T, conn *sql.Conn, table string) map[string]int {
	t.Helper()
	rows, err := conn.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
	if err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		var b strings.Builder
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" | ")
			}
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "%s=%x", cols[i], v)
			case time.Time:
				fmt.Fprintf(&b, "%s=%s", cols[i], v.Format(time.RFC3339Nano))
			default:
				fmt.Fprintf(&b, "%s=%v", cols[i], v)
			}
		}
		out[b.String()]++
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read %s: %v", table, err)
	}
	return out
}

// assertUnchanged reports every table whose rows differ, with the rows
// that appeared and disappeared.
func (w *hostileWorld) assertUnchanged(t *testing.T, before, after dbState) {
	t.Helper()
	tables := map[string]bool{}
	for k := range before {
		tables[k] = true
	}
	for k := range after {
		tables[k] = true
	}
	names := make([]string, 0, len(tables))
	for k := range tables {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, table := range names {
		var added, removed []string
		for row, n := range after[table] {
			if before[table][row] < n {
				added = append(added, row)
			}
		}
		for row, n := range before[table] {
			if after[table][row] < n {
				removed = append(removed, row)
			}
		}
		if len(added)+len(removed) == 0 {
			continue
		}
		sort.Strings(added)
		sort.Strings(removed)
		t.Errorf("the refused request changed table %s: %d rows added %s, %d removed %s",
			table, len(added), shortRows(added), len(removed), shortRows(removed))
	}
}

func shortRows(rows []string) string {
	var out []string
	for i, r := range rows {
		if i == 3 {
			out = append(out, "…")
			break
		}
		if len(r) > 240 {
			r = r[:240] + "…"
		}
		out = append(out, "["+r+"]")
	}
	return strings.Join(out, " ")
}

// post sends a JWS c built with its standard header for u and payload
// (nil: POST-as-GET).
func (w *hostileWorld) post(c *rawClient, u string, payload []byte) *rawResponse {
	return c.post(u, c.jws(c.header(u), payload))
}

// newOrder posts a newOrder payload signed by good.
func (w *hostileWorld) newOrder(payload string) *rawResponse {
	return w.post(w.good, w.base+"/new-order", []byte(payload))
}

// orderOf returns a newOrder payload naming identifiers given as
// "type:value" or a bare DNS name.
func orderOf(ids ...string) string {
	type id struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	}
	list := make([]id, len(ids))
	for i, s := range ids {
		typ, v, ok := strings.Cut(s, ":")
		if !ok || (typ != "ip" && typ != "dns" && typ != "email") {
			typ, v = "dns", s
		}
		list[i] = id{typ, v}
	}
	b, _ := json.Marshal(map[string]any{"identifiers": list})
	return string(b)
}
