package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/postgres"
	"github.com/acmegate/acmegate/storage/sqlite"
)

// seedTestN is small enough for a test and large enough that every kind of
// order (the rarest is 1 %) shows up with near certainty; the checks
// below require only the valid ones.
const seedTestN = 700

func TestSeedSQLite(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	path := filepath.Join(t.TempDir(), "acmegate.db")
	st, err := sqlite.Open(ctx, path) // migrates, as acmegate migrate does
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	res := runSeedTest(t, ctx, path)
	if st, err = sqlite.Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkSeeded(t, ctx, st, res)
}

func TestSeedPostgres(t *testing.T) {
	ctx := testContext(t, 3*time.Minute)
	dsn := seedTestDatabase(t, ctx, "acmebench_seed_test")
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	res := runSeedTest(t, ctx, dsn)
	if st, err = postgres.Open(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	checkSeeded(t, ctx, st, res)
}

func TestSeedRefusesUnmigrated(t *testing.T) {
	ctx := testContext(t, time.Minute)
	path := filepath.Join(t.TempDir(), "empty.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := runSeed(ctx, []string{"-db", path, "-n", "10"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d on an unmigrated database, want 1; stderr: %s", code, errb.String())
	}
	if !strings.Contains(errb.String(), "acmegate migrate") {
		t.Errorf("stderr does not say to migrate: %s", errb.String())
	}
	if code := runSeed(ctx, []string{"-db", filepath.Join(t.TempDir(), "missing.db"), "-n", "10"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d on a missing file, want 1", code)
	}
	if code := runSeed(ctx, []string{"-n", "10"}, &out, &errb); code != 2 {
		t.Fatalf("exit %d without -db, want 2", code)
	}
}

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// seedTestDatabase creates the database name, dropped at the end, on the
// test PostgreSQL server and returns its URL.
func seedTestDatabase(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	base := os.Getenv("ACMEGATE_TEST_POSTGRES_URL")
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		msg := fmt.Sprintf("PostgreSQL test server unreachable (%v); start one or set ACMEGATE_TEST_POSTGRES_URL", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	drop := "DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"
	for _, q := range []string{drop, "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()} {
		if _, err := admin.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, drop); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		if err := admin.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// runSeedTest seeds db with seedTestN orders in small batches (so several
// batches and their ordering are exercised) and returns the JSON result.
func runSeedTest(t *testing.T, ctx context.Context, db string) *seedResult {
	t.Helper()
	var out, errb bytes.Buffer
	code := runSeed(ctx, []string{"-db", db, "-n", fmt.Sprint(seedTestN), "-batch", "97", "-workers", "3"}, &out, &errb)
	if code != 0 {
		t.Fatalf("acmebench seed: exit %d\nstdout: %s\nstderr: %s", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var line struct {
		Schema string `json:"schema"`
		seedResult
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &line); err != nil {
		t.Fatalf("last line is not the JSON result: %v\n%s", err, out.String())
	}
	c := line.Counts
	if line.Schema != "acmebench-seed/1" || c.Orders != seedTestN || c.Authorizations != seedTestN ||
		c.Certificates != seedTestN || c.Accounts != seedTestN/100 || line.RowsPerS <= 0 {
		t.Fatalf("result %+v, want %d orders, authorizations and certificates, %d accounts", line, seedTestN, seedTestN/100)
	}
	if c.Challenges < seedTestN || c.Challenges > 3*seedTestN || c.Events < seedTestN || c.Audit < c.Accounts+seedTestN {
		t.Fatalf("counts %+v: too few challenges, events or audit entries", c)
	}
	return &line.seedResult
}

// checkSeeded reads everything seeded back through the store's methods and
// checks that it holds together as acmegate's own rows do.
func checkSeeded(t *testing.T, ctx context.Context, st storage.Store, res *seedResult) {
	t.Helper()
	now := time.Now()
	orders := listAll(t, func(p storage.Page) ([]*storage.Order, string, error) {
		return st.ListOrders(ctx, storage.OrderFilter{Directory: "default"}, p)
	})
	certs := listAll(t, func(p storage.Page) ([]*storage.Certificate, string, error) {
		return st.ListCertificates(ctx, storage.CertificateFilter{Directory: "default"}, p)
	})
	accounts := listAll(t, func(p storage.Page) ([]*storage.Account, string, error) {
		return st.ListAccounts(ctx, storage.AccountFilter{Directory: "default"}, p)
	})
	if len(orders) != res.Counts.Orders || len(certs) != res.Counts.Certificates || len(accounts) != res.Counts.Accounts {
		t.Fatalf("listed %d orders, %d certificates, %d accounts; seeded %+v", len(orders), len(certs), len(accounts), res.Counts)
	}
	if n, err := st.CountOrders(ctx, "default", "", now.Add(-91*24*time.Hour)); err != nil || n != len(orders) {
		t.Errorf("CountOrders over 91 days = %d, %v; want %d", n, err, len(orders))
	}
	expiring, err := st.CountExpiringCertificates(ctx, now, now.Add(91*24*time.Hour))
	if err != nil || expiring["default"] < len(orders)*8/10 {
		t.Errorf("CountExpiringCertificates over the next 91 days = %v, %v; want most of %d", expiring, err, len(orders))
	}

	for _, a := range accounts {
		got, err := st.GetAccountByThumbprint(ctx, "default", a.KeyThumbprint)
		if err != nil || got.ID != a.ID {
			t.Fatalf("account %s by thumbprint: %v", a.ID, err)
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(a.KeyJWK); err != nil {
			t.Fatalf("account %s: key: %v", a.ID, err)
		}
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil || base64.RawURLEncoding.EncodeToString(tp) != a.KeyThumbprint {
			t.Fatalf("account %s: thumbprint %s is not its key's (%v)", a.ID, a.KeyThumbprint, err)
		}
		if a.CreatedAt.After(now) || a.Status != storage.StatusValid && a.Status != storage.StatusDeactivated {
			t.Fatalf("account %+v", a)
		}
	}

	statuses := map[storage.Status]int{}
	var valid int
	for i, listed := range orders {
		if i > 0 && listed.CreatedAt.After(orders[i-1].CreatedAt) {
			t.Fatalf("orders not listed newest first at %d", i)
		}
		o, err := st.GetOrder(ctx, listed.ID)
		if err != nil {
			t.Fatal(err)
		}
		if age := now.Sub(o.CreatedAt); age < 0 || age > 91*24*time.Hour {
			t.Fatalf("order %s created %s ago, want within 90 days", o.ID, age)
		}
		if len(o.Identifiers) != 1 || len(o.AuthzIDs) != 1 || o.Profile != "default" || !o.Expires.After(o.CreatedAt) {
			t.Fatalf("order %+v", o)
		}
		if _, err := st.GetAccount(ctx, o.AccountID); err != nil {
			t.Fatalf("order %s: account: %v", o.ID, err)
		}
		authzs, err := st.GetAuthorizations(ctx, o.AuthzIDs)
		if err != nil {
			t.Fatalf("order %s: %v", o.ID, err)
		}
		a := authzs[0]
		name := a.Identifier.Value
		if a.Wildcard {
			name = "*." + name
		}
		if a.AccountID != o.AccountID || name != o.Identifiers[0].Value || a.Identifier.Type != storage.IdentifierDNS {
			t.Fatalf("order %+v has authorization %+v", o, a)
		}
		if len(a.Challenges) != 3 && !(a.Wildcard && len(a.Challenges) == 1) {
			t.Fatalf("authorization %s has %d challenges", a.ID, len(a.Challenges))
		}
		for _, c := range a.Challenges {
			got, err := st.GetChallenge(ctx, c.ID)
			if err != nil || got.AuthzID != a.ID || got.Token == "" {
				t.Fatalf("challenge %s: %+v, %v", c.ID, got, err)
			}
		}
		statuses[o.Status]++
		switch o.Status {
		case storage.StatusValid:
			valid++
			ch := a.Challenges[0]
			if a.Status != storage.StatusValid || ch.Status != storage.StatusValid || ch.Validated.IsZero() {
				t.Fatalf("valid order %s: authorization %s, challenge %+v", o.ID, a.Status, ch)
			}
			checkSeededCert(t, ctx, st, o)
		case storage.StatusInvalid:
			var p struct{ Type string }
			if err := json.Unmarshal(o.Error, &p); err != nil || !strings.HasPrefix(p.Type, "urn:ietf:params:acme:error:") {
				t.Fatalf("invalid order %s: error %q (%v)", o.ID, o.Error, err)
			}
		case storage.StatusPending:
			if a.Status == storage.StatusInvalid {
				var p struct{ Type string }
				if err := json.Unmarshal(a.Challenges[0].Error, &p); err != nil || p.Type == "" {
					t.Fatalf("failed challenge of %s: error %q (%v)", o.ID, a.Challenges[0].Error, err)
				}
			}
		default:
			t.Fatalf("order %s: stored status %s", o.ID, o.Status)
		}
	}
	if valid < len(orders)*8/10 || statuses[storage.StatusPending] == 0 {
		t.Errorf("order statuses %v: want mostly valid, some pending", statuses)
	}

	// The certificates of the valid orders and the imported ones.
	imported := 0
	for _, c := range certs {
		got, err := st.GetCertificateBySerial(ctx, c.Serial)
		if err != nil || got.ID != c.ID {
			t.Fatalf("certificate %s by serial: %v", c.Serial, err)
		}
		if c.OrderID == "" {
			imported++
			checkChain(t, got)
		}
	}
	if imported+valid != len(certs) {
		t.Errorf("%d imported + %d of valid orders != %d certificates", imported, valid, len(certs))
	}
	byExpiry, _, err := st.ListCertificates(ctx, storage.CertificateFilter{ByExpiry: true}, storage.Page{Limit: 50})
	if err != nil || len(byExpiry) != 50 ||
		!slices.IsSortedFunc(byExpiry, func(x, y *storage.Certificate) int { return x.NotAfter.Compare(y.NotAfter) }) {
		t.Errorf("certificates by expiry: %d, %v", len(byExpiry), err)
	}

	// The audit chain holds, seeded entries and all.
	checked, brk, err := storage.VerifyAudit(ctx, st)
	if err != nil || brk != nil || checked != int64(res.Counts.Audit) {
		t.Errorf("VerifyAudit: %d entries checked (seeded %d), break %+v, %v", checked, res.Counts.Audit, brk, err)
	}
}

// checkSeededCert checks a valid order's certificate and timeline.
func checkSeededCert(t *testing.T, ctx context.Context, st storage.Store, o *storage.Order) {
	t.Helper()
	c, err := st.GetCertificate(ctx, o.CertificateID)
	if err != nil {
		t.Fatalf("order %s: certificate: %v", o.ID, err)
	}
	if c.OrderID != o.ID || c.AccountID != o.AccountID || !slices.Equal(c.Names, []string{o.Identifiers[0].Value}) ||
		c.Backend != "local" || c.Profile != o.Profile {
		t.Fatalf("order %+v has certificate %+v", o, c)
	}
	if c.Status != storage.StatusValid && (c.Status != storage.StatusRevoked || c.RevokedAt.IsZero()) {
		t.Fatalf("certificate %s: status %s revoked at %s", c.ID, c.Status, c.RevokedAt)
	}
	if left := time.Until(c.NotAfter); left <= 0 || left > 90*24*time.Hour {
		t.Fatalf("certificate %s of a valid order expires in %s, want within the next 90 days", c.ID, left)
	}
	checkChain(t, c)
	events, err := st.ListOrderEvents(ctx, o.ID, o.AuthzIDs)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	want := []string{"created", "validated", "finalize-requested", "issued", "downloaded"}
	if c.Status == storage.StatusRevoked {
		want = append(want, "revoked")
	}
	if !slices.Equal(kinds, want) {
		t.Fatalf("order %s timeline %v, want %v", o.ID, kinds, want)
	}
}

// checkChain parses a certificate's chain and its alternate and checks
// they describe the row.
func checkChain(t *testing.T, c *storage.Certificate) {
	t.Helper()
	chain := parsePEMChain(t, c.ChainPEM)
	if len(chain) != 2 || len(c.Alternates) != 1 || len(parsePEMChain(t, c.Alternates[0])) != 3 {
		t.Fatalf("certificate %s: chain of %d, %d alternates", c.ID, len(chain), len(c.Alternates))
	}
	leaf := chain[0]
	if leaf.SerialNumber.Text(16) != c.Serial || !slices.Equal(leaf.DNSNames, c.Names) ||
		!leaf.NotAfter.Equal(c.NotAfter) || !leaf.NotBefore.Equal(c.NotBefore) || leaf.Issuer.String() != c.Issuer {
		t.Fatalf("certificate %s: leaf %s %v %s–%s by %s does not match the row %+v", c.ID,
			leaf.SerialNumber.Text(16), leaf.DNSNames, leaf.NotBefore, leaf.NotAfter, leaf.Issuer, c)
	}
	if err := leaf.CheckSignatureFrom(chain[1]); err != nil {
		t.Fatalf("certificate %s: %v", c.ID, err)
	}
}

func parsePEMChain(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	return certs
}

// listAll walks every page of a listing.
func listAll[T any](t *testing.T, list func(storage.Page) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	p := storage.Page{Limit: 250}
	for {
		page, next, err := list(p)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			return all
		}
		p.Cursor = next
	}
}
