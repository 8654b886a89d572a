package storagetest

import (
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func testCertificateRoundTrip(t *testing.T, e *env) {
	acct := e.account("default")
	o, _ := e.finalizing(acct)
	c := certificate(o, "7b1c0de")
	must(t, "CompleteOrder", e.s.CompleteOrder(e.ctx, c, base(), nil))

	byID, err := e.s.GetCertificate(e.ctx, c.ID)
	must(t, "GetCertificate", err)
	if d := diff(c, byID); d != "" {
		t.Errorf("GetCertificate (-want +got):\n%s", d)
	}
	if !byID.RevokedAt.IsZero() {
		t.Errorf("zero RevokedAt came back as %v", byID.RevokedAt)
	}
	checkUTC(t, byID)
	bySerial, err := e.s.GetCertificateBySerial(e.ctx, c.Serial)
	must(t, "GetCertificateBySerial", err)
	if d := diff(c, bySerial); d != "" {
		t.Errorf("GetCertificateBySerial (-want +got):\n%s", d)
	}

	_, err = e.s.GetCertificate(e.ctx, "no-such-cert")
	wantErr(t, "GetCertificate unknown", err, storage.ErrNotFound)
	_, err = e.s.GetCertificateBySerial(e.ctx, "ffff")
	wantErr(t, "GetCertificateBySerial unknown", err, storage.ErrNotFound)
}

func testRevokeCertificate(t *testing.T, e *env) {
	acct := e.account("default")
	o, _ := e.finalizing(acct)
	c := certificate(o, "99")
	must(t, "CompleteOrder", e.s.CompleteOrder(e.ctx, c, base(), nil))
	now := base().Add(48 * time.Hour)

	const keyCompromise = 1
	must(t, "RevokeCertificate", e.s.RevokeCertificate(e.ctx, c.ID, keyCompromise, now))
	want := *c
	want.Status, want.RevokedAt, want.RevocationReason = storage.StatusRevoked, now, keyCompromise
	got, err := e.s.GetCertificate(e.ctx, c.ID)
	must(t, "GetCertificate", err)
	if d := diff(&want, got); d != "" {
		t.Errorf("after RevokeCertificate (-want +got):\n%s", d)
	}

	const superseded = 4
	err = e.s.RevokeCertificate(e.ctx, c.ID, superseded, now.Add(time.Hour))
	wantErr(t, "RevokeCertificate twice", err, storage.ErrConflict)
	got, err = e.s.GetCertificate(e.ctx, c.ID)
	must(t, "GetCertificate", err)
	if d := diff(&want, got); d != "" {
		t.Errorf("second RevokeCertificate wrote (-want +got):\n%s", d)
	}

	err = e.s.RevokeCertificate(e.ctx, "no-such-cert", superseded, now)
	wantErr(t, "RevokeCertificate unknown", err, storage.ErrNotFound)
}

// testMarkRevocationPending: a revocation the CA has not confirmed leaves
// the certificate revocation-pending with its revoke job, and the later
// confirmation revokes it.
func testMarkRevocationPending(t *testing.T, e *env) {
	acct := e.account("default")
	o, _ := e.finalizing(acct)
	c := certificate(o, "7a")
	must(t, "CompleteOrder", e.s.CompleteOrder(e.ctx, c, base(), nil))
	const keyCompromise = 1
	j := job(storage.JobRevoke, c.ID, base())
	must(t, "MarkRevocationPending", e.s.MarkRevocationPending(e.ctx, c.ID, keyCompromise, j, base()))
	got, err := e.s.GetCertificate(e.ctx, c.ID)
	must(t, "GetCertificate", err)
	if got.Status != storage.StatusRevocationPending || got.RevocationReason != keyCompromise || !got.RevokedAt.IsZero() {
		t.Errorf("after MarkRevocationPending: status %s reason %d revoked at %v", got.Status, got.RevocationReason, got.RevokedAt)
	}
	leased, err := e.s.LeaseJobs(e.ctx, "w1", 10, base(), time.Minute)
	must(t, "LeaseJobs", err)
	if len(leased) != 1 || leased[0].Kind != storage.JobRevoke || leased[0].Ref != c.ID {
		t.Errorf("revoke job = %+v", leased)
	}
	wantErr(t, "MarkRevocationPending twice", e.s.MarkRevocationPending(e.ctx, c.ID, keyCompromise, job(storage.JobRevoke, c.ID, base()), base()), storage.ErrConflict)
	wantErr(t, "MarkRevocationPending of a missing certificate", e.s.MarkRevocationPending(e.ctx, "no-such-cert", 0, job(storage.JobRevoke, "x", base()), base()), storage.ErrNotFound)
	must(t, "RevokeCertificate after pending", e.s.RevokeCertificate(e.ctx, c.ID, keyCompromise, base().Add(time.Hour)))
	got, err = e.s.GetCertificate(e.ctx, c.ID)
	must(t, "GetCertificate", err)
	if got.Status != storage.StatusRevoked {
		t.Errorf("status after confirmation = %s", got.Status)
	}
	wantErr(t, "MarkRevocationPending of a revoked certificate", e.s.MarkRevocationPending(e.ctx, c.ID, 0, job(storage.JobRevoke, c.ID, base()), base()), storage.ErrConflict)
}

// testImportCertificate: a certificate issued outside acmegate joins the
// inventory once.
func testImportCertificate(t *testing.T, e *env) {
	acct := e.account("default")
	o, _ := e.finalizing(acct)
	c := certificate(o, "1a2b")
	c.AccountID, c.OrderID, c.Backend, c.UpstreamRef = "", "", "sectigo", "4711"
	must(t, "ImportCertificate", e.s.ImportCertificate(e.ctx, c))
	got, err := e.s.GetCertificateBySerial(e.ctx, "1a2b")
	must(t, "GetCertificateBySerial", err)
	if d := diff(c, got); d != "" {
		t.Errorf("imported certificate (-want +got):\n%s", d)
	}
	again := *c
	again.ID = c.ID + "-again"
	wantErr(t, "ImportCertificate of a known serial", e.s.ImportCertificate(e.ctx, &again), storage.ErrConflict)
}
