package acme_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
)

// TestOperatorRevocation: an operator revokes through the subscriber's
// path: refused reasons, unknown certificates and double revocations are
// typed errors; a revocation reaches the CA, the inventory, the timeline,
// the audit trail and the notifications with the operator as the actor.
func TestOperatorRevocation(t *testing.T) {
	rec := &recordingNotifier{}
	e := newEnv(t, envOptions{notifier: rec})
	ctx := testCtx(t)
	c := e.newClient(ctx, nil)
	leaf := e.issue(ctx, c, "http-01", newECKey(t), "operator-revoke.example.com")[0]
	serial := leaf.SerialNumber.Text(16)
	cert, err := e.store.GetCertificateBySerial(ctx, serial)
	if err != nil {
		t.Fatal(err)
	}

	for _, reason := range []int{2, 6, 7, 8, 10, -1} {
		err := e.srv.RevokeCertificate(ctx, cert.ID, reason, "token:alice")
		var re *acme.RevocationReasonError
		if !errors.As(err, &re) || re.Reason != reason {
			t.Errorf("reason %d: error = %v, want a RevocationReasonError", reason, err)
		}
	}
	if err := e.srv.RevokeCertificate(ctx, "no-such-certificate", 1, "token:alice"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("unknown certificate: error = %v, want ErrNotFound", err)
	}
	if got, _ := e.store.GetCertificate(ctx, cert.ID); got.Status != storage.StatusValid {
		t.Fatalf("refused revocations changed the certificate: %s", got.Status)
	}

	if err := e.srv.RevokeCertificate(ctx, cert.ID, 1, "token:alice"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	got, err := e.store.GetCertificate(ctx, cert.ID)
	if err != nil || got.Status != storage.StatusRevoked || got.RevocationReason != 1 {
		t.Fatalf("certificate after revocation = %+v %v, want revoked with reason 1", got, err)
	}
	if err := e.srv.RevokeCertificate(ctx, cert.ID, 1, "token:alice"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("second revocation: error = %v, want ErrConflict", err)
	}
	// The subscriber sees it revoked too: alreadyRevoked, which
	// x/crypto/acme reports as success, and nothing changes.
	if err := c.RevokeCert(ctx, nil, leaf.Raw, xacme.CRLReasonSuperseded); err != nil {
		t.Errorf("subscriber revocation of a revoked certificate: %v, want alreadyRevoked", err)
	}
	if got, _ := e.store.GetCertificate(ctx, cert.ID); got.RevocationReason != 1 {
		t.Errorf("reason = %d after the subscriber's attempt, want 1", got.RevocationReason)
	}

	ord, err := e.store.GetOrder(ctx, cert.OrderID)
	if err != nil {
		t.Fatal(err)
	}
	events, err := e.store.ListOrderEvents(ctx, cert.OrderID, ord.AuthzIDs)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if last.Kind != acme.EventRevoked || last.Actor != "token:alice" || !strings.Contains(last.Detail, "keyCompromise") {
		t.Errorf("last timeline event = %+v, want revoked by token:alice", last)
	}
	trail := e.auditTrail(ctx, storage.AuditFilter{Action: acme.AuditCertificateRevoke})
	if len(trail) != 1 || trail[0].Actor != "token:alice" || trail[0].Object != "certificate:"+serial || trail[0].Directory != "default" {
		t.Errorf("revocation audit = %v", details(trail))
	}
	revoked := rec.of(notify.CertificateRevoked)
	if len(revoked) != 1 || revoked[0].CertificateID != cert.ID || !strings.Contains(revoked[0].Detail, "token:alice") ||
		!strings.Contains(revoked[0].Detail, "keyCompromise") {
		t.Errorf("certificate.revoked = %+v", revoked)
	}
}

// TestOperatorRevocationWhileTheCAIsDown: like a subscriber's, an
// operator's revocation the CA cannot take is pending, not revoked, and the
// job confirms it once the CA answers again.
func TestOperatorRevocationWhileTheCAIsDown(t *testing.T) {
	fake := sectigotest.Start(t, sectigotest.Config{})
	b := sectigoBackend(t, fake)
	rec := &recordingNotifier{}
	e := newEnv(t, envOptions{notifier: rec, dirs: vendorDirs(b.Name()), backends: []ca.Backend{b}})
	ctx := testCtx(t)
	c, u, orderID := vendorOrder(t, e, "operator-later.example.com")
	if _, err := c.WaitOrder(ctx, u); err != nil {
		t.Fatal(err)
	}
	ord, err := e.store.GetOrder(ctx, orderID)
	if err != nil {
		t.Fatal(err)
	}
	certs, _, err := e.store.ListCertificates(ctx, storage.CertificateFilter{Name: "operator-later.example.com"}, storage.Page{Limit: 10})
	if err != nil || len(certs) != 1 || certs[0].OrderID != ord.ID {
		t.Fatalf("certificates = %v %v", certs, err)
	}
	cert := certs[0]

	fake.FailNext(2, 503)
	err = e.srv.RevokeCertificate(ctx, cert.ID, 4, "operator:bob")
	if !errors.Is(err, acme.ErrRevocationPending) {
		t.Fatalf("revocation while the CA is down: %v, want ErrRevocationPending", err)
	}
	if got, _ := e.store.GetCertificate(ctx, cert.ID); got.Status != storage.StatusRevocationPending {
		t.Fatalf("status = %s, want revocation-pending", got.Status)
	}
	if err := e.srv.RevokeCertificate(ctx, cert.ID, 4, "operator:bob"); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("revoking a pending revocation again: %v, want ErrConflict", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		got, err := e.store.GetCertificate(ctx, cert.ID)
		if err == nil && got.Status == storage.StatusRevoked {
			if got.RevocationReason != 4 {
				t.Errorf("reason = %d, want 4", got.RevocationReason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pending revocation was never confirmed: %+v %v", got, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(fake.Revocations()); n != 1 {
		t.Errorf("%d revocations reached the CA, want 1", n)
	}
	trail := e.auditTrail(ctx, storage.AuditFilter{Action: "certificate.revoke."})
	if len(trail) != 1 || trail[0].Action != acme.AuditRevocationPending || trail[0].Actor != "operator:bob" {
		t.Errorf("pending revocation audit = %v", details(trail))
	}
	trail = e.auditTrail(ctx, storage.AuditFilter{Action: acme.AuditCertificateRevoke})
	if len(trail) != 1 || trail[0].Actor != "system" || !strings.Contains(trail[0].Detail, "confirmed") {
		t.Errorf("confirmed revocation audit = %v", details(trail))
	}
	if evs := rec.wait(t, notify.CertificateRevoked, 1); evs[0].CertificateID != cert.ID || evs[0].Backend != b.Name() {
		t.Errorf("certificate.revoked = %+v", evs[0])
	}
}
