package storagetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// issued stores a valid order of acct with a certificate of serial and
// returns the certificate as stored.
func (e *env) issued(acct *storage.Account, serial string) *storage.Certificate {
	e.t.Helper()
	o, _ := e.finalizing(acct)
	c := certificate(o, serial)
	must(e.t, "CompleteOrder", e.s.CompleteOrder(e.ctx, c, base(), nil))
	return c
}

// renewal builds, without storing, an order of acct with one new
// authorization that replaces certificate c (RFC 9773 §5).
func (e *env) renewal(acct *storage.Account, certID string) (*storage.Order, *storage.Authorization) {
	a := e.authz(acct, "www.example.com", storage.StatusPending, base().Add(24*time.Hour), 2)
	o := e.order(acct, storage.StatusPending, a)
	o.Replaces = "aYhba4dGQEHhs3uEe6CuLN4ByNQ." + certID
	o.ReplacesCertificateID = certID
	return o, a
}

// wantNoOrder fails the test if the refused order o or its new
// authorization a was stored.
func (e *env) wantNoOrder(o *storage.Order, a *storage.Authorization) {
	e.t.Helper()
	if _, err := e.s.GetOrder(e.ctx, o.ID); !errors.Is(err, storage.ErrNotFound) {
		e.t.Errorf("GetOrder of a refused order: %v, want ErrNotFound", err)
	}
	if _, err := e.s.GetAuthorization(e.ctx, a.ID); !errors.Is(err, storage.ErrNotFound) {
		e.t.Errorf("GetAuthorization of a refused order's authorization: %v, want ErrNotFound", err)
	}
	for _, c := range a.Challenges {
		if _, err := e.s.GetChallenge(e.ctx, c.ID); !errors.Is(err, storage.ErrNotFound) {
			e.t.Errorf("GetChallenge of a refused order's challenge: %v, want ErrNotFound", err)
		}
	}
}

func testCreateOrderReplaces(t *testing.T, e *env) {
	acct := e.account("default")
	c := e.issued(acct, "a1b2")
	bystander := e.issued(acct, "c3d4")

	o, a := e.renewal(acct, c.ID)
	must(t, "CreateOrder replacing", e.s.CreateOrder(e.ctx, o, []*storage.Authorization{a}, nil))
	e.wantOrder("replacing order", o)
	want := *c
	want.ReplacedBy = o.ID
	got, err := e.s.GetCertificate(e.ctx, c.ID)
	must(t, "GetCertificate", err)
	if d := diff(&want, got); d != "" {
		t.Errorf("replaced certificate (-want +got):\n%s", d)
	}
	got, err = e.s.GetCertificateBySerial(e.ctx, c.Serial)
	must(t, "GetCertificateBySerial", err)
	if d := diff(&want, got); d != "" {
		t.Errorf("replaced certificate by serial (-want +got):\n%s", d)
	}
	got, err = e.s.GetCertificate(e.ctx, bystander.ID)
	must(t, "GetCertificate", err)
	if d := diff(bystander, got); d != "" {
		t.Errorf("another certificate changed (-want +got):\n%s", d)
	}

	tests := []struct {
		name   string
		certID string
		want   error
	}{
		{"already replaced", c.ID, storage.ErrConflict},
		{"unknown certificate", "no-such-cert", storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			second, sa := e.renewal(acct, tc.certID)
			wantErr(t, "CreateOrder", e.s.CreateOrder(e.ctx, second, []*storage.Authorization{sa}, nil), tc.want)
			e.wantNoOrder(second, sa)
		})
	}
	// ErrNotFound comes first: a missing certificate is reported as such
	// even when the order's id is taken as well.
	dup, da := e.renewal(acct, "no-such-cert")
	dup.ID = o.ID
	wantErr(t, "CreateOrder with a taken id replacing an unknown certificate",
		e.s.CreateOrder(e.ctx, dup, []*storage.Authorization{da}, nil), storage.ErrNotFound)

	// A refused renewal leaves the certificate's replacement alone, and an
	// order refused for its own reasons does not mark the certificate.
	fresh := e.issued(acct, "e5f6")
	taken, ta := e.renewal(acct, fresh.ID)
	taken.ID = o.ID
	wantErr(t, "CreateOrder with a taken id", e.s.CreateOrder(e.ctx, taken, []*storage.Authorization{ta}, nil), storage.ErrConflict)
	for _, cert := range []*storage.Certificate{&want, fresh} {
		got, err := e.s.GetCertificate(e.ctx, cert.ID)
		must(t, "GetCertificate", err)
		if d := diff(cert, got); d != "" {
			t.Errorf("certificate after refused renewals (-want +got):\n%s", d)
		}
	}
}

// testCreateOrderReplacesConcurrent has several clients renew one
// certificate at once: exactly one order is created.
func testCreateOrderReplacesConcurrent(t *testing.T, e *env) {
	acct := e.account("default")
	c := e.issued(acct, "77")
	const n = 8
	orders := make([]*storage.Order, n)
	authzs := make([]*storage.Authorization, n)
	for i := range n {
		orders[i], authzs[i] = e.renewal(acct, c.ID)
	}
	errs := concurrently(n, func(i int) error {
		return e.s.CreateOrder(e.ctx, orders[i], []*storage.Authorization{authzs[i]}, nil)
	})
	ok, conflicts := countOutcomes(t, errs)
	if ok != 1 || conflicts != n-1 {
		t.Fatalf("%d renewals won and %d conflicted, want 1 and %d", ok, conflicts, n-1)
	}
	winner := slices.IndexFunc(errs, func(err error) bool { return err == nil })
	got, err := e.s.GetCertificate(e.ctx, c.ID)
	must(t, "GetCertificate", err)
	if got.ReplacedBy != orders[winner].ID {
		t.Errorf("certificate replaced by %q, want the winner %q", got.ReplacedBy, orders[winner].ID)
	}
	for i := range n {
		if i == winner {
			continue
		}
		e.with(t).wantNoOrder(orders[i], authzs[i])
	}
}

func testCertificateRenewalRoundTrip(t *testing.T, e *env) {
	acct := e.account("default")
	o, _ := e.finalizing(acct)
	c := certificate(o, "0badc0de")
	c.ReplacedBy = "order-that-renewed-it"
	c.RenewEarly = true
	must(t, "CompleteOrder", e.s.CompleteOrder(e.ctx, c, base(), nil))
	got, err := e.s.GetCertificate(e.ctx, c.ID)
	must(t, "GetCertificate", err)
	if d := diff(c, got); d != "" {
		t.Errorf("GetCertificate (-want +got):\n%s", d)
	}
}

func testSetRenewEarly(t *testing.T, e *env) {
	acct := e.account("default")
	c := e.issued(acct, "5e7")
	bystander := e.issued(acct, "5e8")
	for i, early := range []bool{true, true, false, false, true} {
		t.Run(fmt.Sprint(i, "/", early), func(t *testing.T) {
			must(t, "SetRenewEarly", e.s.SetRenewEarly(e.ctx, c.ID, early))
			want := *c
			want.RenewEarly = early
			got, err := e.s.GetCertificateBySerial(e.ctx, c.Serial)
			must(t, "GetCertificateBySerial", err)
			if d := diff(&want, got); d != "" {
				t.Errorf("after SetRenewEarly(%v) (-want +got):\n%s", early, d)
			}
		})
	}
	got, err := e.s.GetCertificate(e.ctx, bystander.ID)
	must(t, "GetCertificate", err)
	if got.RenewEarly {
		t.Errorf("SetRenewEarly of another certificate set this one's flag")
	}
	wantErr(t, "SetRenewEarly unknown", e.s.SetRenewEarly(e.ctx, "no-such-cert", true), storage.ErrNotFound)
}
