package digicert_test

import (
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/digicert/digicerttest"
)

func TestRevoke(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		skipApproval bool
		needApproval bool
		wantStatus   string // the fake's record
		wantLog      string
	}{
		{"revoked at once (204)", true, false, digicerttest.StatusRevoked, "DigiCert revoked the certificate"},
		{"request awaits approval (201), no skip_approval", false, false, "pending", "awaits approval"},
		{"request awaits approval (201), key without admin rights", true, true, "pending", "awaits approval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, digicerttest.Config{RevokeNeedsApproval: tt.needApproval}, func(c *digicert.Config) {
				c.SkipApproval = tt.skipApproval
			})
			ctx := testContext(t)
			res, err := f.b.Issue(ctx, issueRequest(t, "order-revoke"))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.b.Revoke(ctx, res.Chain[0], ca.ReasonKeyCompromise); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			revs := f.fake.Revocations()
			if len(revs) != 1 {
				t.Fatalf("%d revocations, want 1", len(revs))
			}
			o := f.fake.Orders()[0]
			r := revs[0]
			if r.CertificateID != o.CertificateID || r.Status != tt.wantStatus || r.SkipApproval != tt.skipApproval {
				t.Errorf("revocation = %+v; want certificate %d, status %s, skip_approval %v", r, o.CertificateID, tt.wantStatus, tt.skipApproval)
			}
			if !strings.Contains(r.Comments, "keyCompromise") {
				t.Errorf("comments %q do not carry the reason", r.Comments)
			}
			logs := f.logs.String()
			if !strings.Contains(logs, tt.wantLog) {
				t.Errorf("logs lack %q:\n%s", tt.wantLog, logs)
			}
			if r.RequestID != 0 && !strings.Contains(logs, "request="+strconv.Itoa(r.RequestID)) {
				t.Errorf("logs do not name revoke request %d for the approver", r.RequestID)
			}
		})
	}
}

func TestRevokeRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, digicerttest.Config{}, func(c *digicert.Config) { c.SkipApproval = true })
	ctx := testContext(t)
	res, err := f.b.Issue(ctx, issueRequest(t, "order-revoke-twice"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.b.Revoke(ctx, res.Chain[0], ca.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	stranger := *res.Chain[0]
	stranger.SerialNumber = big.NewInt(0x1234)
	tests := []struct {
		name   string
		run    func() error
		want   ca.Kind
		detail string
	}{
		{"already revoked", func() error { return f.b.Revoke(ctx, res.Chain[0], ca.ReasonSuperseded) }, ca.AlreadyRevoked, "already revoked"},
		{"unknown serial", func() error { return f.b.Revoke(ctx, &stranger, ca.ReasonSuperseded) }, ca.Rejected, "no certificate with serial 1234"},
		{"reason 7", func() error { return f.b.Revoke(ctx, res.Chain[0], 7) }, ca.Rejected, "not an RFC 5280"},
		{"no certificate", func() error { return f.b.Revoke(ctx, nil, 0) }, ca.Rejected, "no certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := wantKind(t, tt.run(), tt.want)
			if !strings.Contains(e.Detail, tt.detail) {
				t.Errorf("detail %q does not say %q", e.Detail, tt.detail)
			}
		})
	}
	if n := len(f.fake.Revocations()); n != 1 {
		t.Errorf("%d revocations reached DigiCert, want 1", n)
	}
}
