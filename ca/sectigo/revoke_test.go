package sectigo_test

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/sectigo"
	"github.com/acmegate/acmegate/ca/sectigo/sectigotest"
)

// issued issues a certificate through b and returns the leaf and its sslId.
func issued(t *testing.T, b *sectigo.Backend, orderID string) (*x509.Certificate, int) {
	t.Helper()
	res := mustIssuePending(t, b, issueRequest(t, orderID, orderID+".example.com"))
	done, _, err := pollUntilDone(t, b, res.Ref, 3)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.Atoi(done.Ref)
	return done.Chain[0], id
}

// TestRevokeReasons: the reasons SCM takes reach it with their RFC 5280
// codes; the others are refused without asking SCM (upstream-apis.md §1.6).
func TestRevokeReasons(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	b := newBackend(t, srv, nil)
	for _, reason := range []ca.RevocationReason{
		ca.ReasonUnspecified, ca.ReasonKeyCompromise, ca.ReasonCACompromise, ca.ReasonAffiliationChanged,
		ca.ReasonSuperseded, ca.ReasonCessationOfOperation, ca.ReasonCertificateHold, 7,
		ca.ReasonRemoveFromCRL, ca.ReasonPrivilegeWithdrawn, ca.ReasonAACompromise,
	} {
		t.Run(reason.String(), func(t *testing.T) {
			leaf, id := issued(t, b, "rev-"+strconv.Itoa(int(reason)))
			before := len(srv.Revocations())
			err := b.Revoke(testContext(t), leaf, reason)
			accepted := map[ca.RevocationReason]bool{0: true, 1: true, 3: true, 4: true, 5: true}[reason]
			if !accepted {
				caError(t, err, ca.Rejected)
				if n := len(srv.Revocations()); n != before {
					t.Errorf("SCM recorded a revocation for reason %s", reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			revs := srv.Revocations()
			if len(revs) != before+1 {
				t.Fatalf("%d new revocations, want 1", len(revs)-before)
			}
			got := revs[len(revs)-1]
			want := sectigotest.Revocation{
				SSLID: id, Serial: strings.ToUpper(leaf.SerialNumber.Text(16)), ReasonCode: int(reason),
				Reason: "Revoked through acmegate: " + reason.String(),
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("revocation (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRevokeOutcomes: a second revocation is AlreadyRevoked; a certificate
// SCM does not list is tried by serial and refused.
func TestRevokeOutcomes(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	b := newBackend(t, srv, nil)
	leaf, _ := issued(t, b, "twice")
	if err := b.Revoke(testContext(t), leaf, ca.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	err := b.Revoke(testContext(t), leaf, ca.ReasonKeyCompromise)
	e := caError(t, err, ca.AlreadyRevoked)
	if !strings.Contains(e.Upstream, "-159") {
		t.Errorf("Upstream = %q, want code -159", e.Upstream)
	}

	// A certificate SCM never issued.
	stranger := &x509.Certificate{SerialNumber: big.NewInt(0x0a1b2c), Subject: pkix.Name{CommonName: "stranger"}}
	err = b.Revoke(testContext(t), stranger, ca.ReasonUnspecified)
	e = caError(t, err, ca.Rejected)
	if !strings.Contains(e.Detail, "0A:1B:2C") {
		t.Errorf("Detail = %q, want the serial", e.Detail)
	}
	if n := countRequests(srv, "POST", "/revoke/serial/0A:1B:2C"); n != 1 {
		t.Errorf("%d revoke-by-serial requests, want 1", n)
	}
	caError(t, b.Revoke(testContext(t), nil, ca.ReasonUnspecified), ca.Rejected)
}

// TestRevokeListingFallback: when the listing does not find the serial, the
// revoke-by-serial call revokes it.
func TestRevokeListingFallback(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	b := newBackend(t, srv, nil)
	leaf, id := issued(t, b, "fallback")
	srv.InjectFault(sectigotest.Fault{Path: "/api/ssl/v1", Status: 200, Body: "[]"})
	if err := b.Revoke(testContext(t), leaf, ca.ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	revs := srv.Revocations()
	if len(revs) != 1 || !revs[0].BySerial || revs[0].SSLID != id || revs[0].ReasonCode != 4 {
		t.Errorf("revocations = %+v, want one by serial of %d with reason 4", revs, id)
	}
}

// TestRevokeUnavailable: a revocation that cannot reach SCM is temporary.
func TestRevokeUnavailable(t *testing.T) {
	t.Parallel()
	srv := sectigotest.Start(t, sectigotest.Config{})
	b := newBackend(t, srv, nil)
	leaf, _ := issued(t, b, "later")
	srv.RateLimit(1, 3*time.Second)
	e := caError(t, b.Revoke(testContext(t), leaf, ca.ReasonUnspecified), ca.Unavailable)
	if e.RetryAfter != 3*time.Second {
		t.Errorf("RetryAfter = %s", e.RetryAfter)
	}
	if len(srv.Revocations()) != 0 {
		t.Error("revoked during a rate limit")
	}
}
