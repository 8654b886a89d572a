// Package storagetest is the conformance suite of storage.Store: every
// implementation (SQLite, PostgreSQL) runs Run from its own tests and must
// pass it unchanged.
//
// The suite checks the contracts written on the storage interfaces (round
// trips, ErrNotFound, ErrConflict, atomicity, concurrency) through the
// interface only. It knows nothing of SQL or of any implementation.
package storagetest

import (
	"context"
	"crypto/rand"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/acmegate/acmegate/storage"
)

// Run runs the conformance suite. newStore must return a new, empty,
// migrated store that no other test shares, and close it when t ends; it is
// called from parallel subtests.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"Ping", testPing},

		{"Account/RoundTrip", testAccountRoundTrip},
		{"Account/NotFound", testAccountNotFound},
		{"Account/DuplicateKey", testAccountDuplicateKey},
		{"Account/Update", testAccountUpdate},
		{"Account/ChangeKey", testAccountChangeKey},

		{"Directory/RoundTrip", testDirectoryRoundTrip},
		{"Directory/NotFound", testDirectoryNotFound},
		{"Directory/CreateDuplicate", testDirectoryCreateDuplicate},
		{"Directory/Put", testPutDirectory},
		{"Directory/List", testListDirectories},

		{"EAB/RoundTrip", testEABKeyRoundTrip},
		{"EAB/NotFoundAndDuplicate", testEABKeyNotFoundAndDuplicate},
		{"EAB/List", testListEABKeys},
		{"EAB/BindSingleUse", testBindSingleUseKey},
		{"EAB/BindSingleUseConcurrent", testBindSingleUseKeyConcurrent},
		{"EAB/BindReusable", testBindReusableKey},
		{"EAB/BindRefused", testBindRefused},
		{"EAB/BindDuplicateThumbprint", testBindDuplicateThumbprint},
		{"EAB/Revoke", testRevokeEABKey},

		{"Order/RoundTrip", testOrderRoundTrip},
		{"Order/NotFound", testOrderNotFound},
		{"Order/CreateRollsBack", testCreateOrderRollsBack},
		{"Order/ListPages", testListOrderIDs},
		{"Order/ListEdges", testListOrderIDsEdges},
		{"Order/BeginFinalize", testBeginFinalize},
		{"Order/BeginFinalizeConcurrent", testBeginFinalizeConcurrent},
		{"Order/Complete", testCompleteOrder},
		{"Order/CompleteDuplicateSerial", testCompleteOrderDuplicateSerial},
		{"Order/Fail", testFailOrder},
		{"Order/Finalize", testFinalizeOrder},
		{"Order/FinalizeConcurrent", testFinalizeOrderConcurrent},
		{"Order/UpstreamRef", testSetOrderUpstreamRef},

		{"Authorization/RoundTrip", testAuthzRoundTrip},
		{"Authorization/GetMany", testGetAuthorizations},
		{"Authorization/FindReusable", testFindReusableAuthorization},
		{"Authorization/Deactivate", testDeactivateAuthorization},
		{"Challenge/Start", testStartChallenge},
		{"Challenge/Finish", testFinishChallenge},
		{"Challenge/FinishConflicts", testFinishChallengeConflicts},

		{"Certificate/RoundTrip", testCertificateRoundTrip},
		{"Certificate/Revoke", testRevokeCertificate},
		{"Certificate/RevocationPending", testMarkRevocationPending},
		{"Catalog/RoundTrip", testBackendCatalog},
		{"Certificate/Import", testImportCertificate},

		{"Approval/RoundTrip", testApprovalRoundTrip},
		{"Approval/Begin", testBeginApproval},
		{"Approval/Approve", testApproveOrder},
		{"Approval/Reject", testRejectOrder},
		{"Approval/Lapsed", testApprovalLapsed},
		{"Approval/ApproveConcurrent", testApproveConcurrent},
		{"Approval/DecideConcurrent", testDecideConcurrent},
		{"Approval/ListPending", testListPendingApprovals},
		{"Approval/Expire", testExpireApprovals},
		{"Approval/ExpireConcurrent", testExpireApprovalsConcurrent},

		{"Event/List", testOrderEvents},
		{"Event/SameInstant", testOrderEventsSameInstant},
		{"Event/AllOrNothing", testOrderEventsAllOrNothing},

		{"Limit/CountOrders", testCountOrders},
		{"Limit/CountFailedValidations", testCountFailedValidations},
		{"Limit/CountPendingAuthorizations", testCountPendingAuthorizations},

		{"ARI/CreateOrderReplaces", testCreateOrderReplaces},
		{"ARI/CreateOrderReplacesConcurrent", testCreateOrderReplacesConcurrent},
		{"ARI/CertificateRoundTrip", testCertificateRenewalRoundTrip},
		{"ARI/SetRenewEarly", testSetRenewEarly},

		{"Job/Lease", testLeaseJobs},
		{"Job/LeaseLimit", testLeaseJobsLimit},
		{"Job/Retry", testRetryJob},
		{"Job/Release", testReleaseJobs},
		{"Job/RenewLease", testRenewJobLease},
		{"Job/LeaseConcurrent", testLeaseJobsConcurrent},

		{"Nonce/Redeem", testRedeemNonce},
		{"Nonce/RedeemConcurrent", testRedeemNonceConcurrent},
		{"Nonce/Purge", testPurgeNonces},

		{"Secret/GetOrCreate", testGetOrCreateSecret},
		{"Secret/GetOrCreateConcurrent", testGetOrCreateSecretConcurrent},

		{"AdminToken/RoundTrip", testAdminTokenRoundTrip},
		{"AdminToken/Conflicts", testAdminTokenConflicts},
		{"AdminToken/Revoke", testAdminTokenRevoke},
		{"AdminToken/Touch", testAdminTokenTouch},

		{"Audit/Append", testAuditAppend},
		{"Audit/Scan", testAuditScan},
		{"Audit/List", testAuditList},
		{"Audit/ListPages", testAuditListPages},
		{"Audit/Concurrent", testAuditConcurrent},

		{"Journal/Transitions", testJournal},
		{"Journal/Empty", testJournalEmpty},
		{"Journal/RolledBack", testJournalRolledBack},
		{"Journal/Concurrent", testJournalConcurrent},

		{"Webhook/RoundTrip", testWebhookRoundTrip},
		{"Webhook/List", testListWebhooks},
		{"Webhook/Delete", testDeleteWebhook},
		{"Delivery/RoundTrip", testDeliveryRoundTrip},
		{"Delivery/EnqueueAtomic", testEnqueueDeliveriesAtomic},
		{"Delivery/List", testListDeliveries},

		{"Inventory/ListAccounts", testListAccounts},
		{"Inventory/ListOrders", testListOrders},
		{"Inventory/ListOrdersGrowing", testListOrdersGrowing},
		{"Inventory/ListCertificates", testListCertificates},
		{"Inventory/ListCertificatesGrowing", testListCertificatesGrowing},
		{"Inventory/CountExpiringCertificates", testCountExpiringCertificates},
		{"Inventory/CountJobs", testCountJobs},
		{"Inventory/ListFailingJobs", testListFailingJobs},

		{"Sweep/Claim", testClaimSweep},
		{"Sweep/ClaimConcurrent", testClaimSweepConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			tc.fn(t, &env{t: t, s: newStore(t), ctx: ctx})
		})
	}
}

// env is one test's store and context, with fixture builders.
type env struct {
	t   *testing.T
	s   storage.Store
	ctx context.Context
}

// with returns e for subtest t, so fixture helpers fail the right test.
func (e *env) with(t *testing.T) *env { return &env{t: t, s: e.s, ctx: e.ctx} }

// base is the suite's "now". It is fixed, far from the wall clock (storage
// must never consult it) and has microsecond precision, the finest that
// every engine stores exactly.
func base() time.Time { return time.Date(2031, time.March, 4, 5, 6, 7, 123456000, time.UTC) }

// newID returns a unique id with a readable prefix.
func newID(prefix string) string { return prefix + "-" + strings.ToLower(rand.Text()[:12]) }

// diff compares stored and expected values: times by instant, nil and empty
// slices alike (an engine may return either).
func diff(want, got any) string { return cmp.Diff(want, got, cmpopts.EquateEmpty()) }

// wantErr fails the test unless err matches want (nil meaning success).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// must fails the test on err.
func must(t *testing.T, what string, err error) {
	t.Helper()
	wantErr(t, what, err, nil)
}

// checkUTC fails the test for every time.Time inside v that is not in UTC:
// the store MUST return every timestamp in UTC.
func checkUTC(t *testing.T, v any) {
	t.Helper()
	walkTimes(reflect.ValueOf(v), reflect.TypeOf(v).String(), func(path string, tm time.Time) {
		if tm.Location() != time.UTC {
			t.Errorf("%s = %v: location %v, want UTC", path, tm, tm.Location())
		}
	})
}

func walkTimes(v reflect.Value, path string, fn func(string, time.Time)) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		fn(path, v.Interface().(time.Time))
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkTimes(v.Elem(), path, fn)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				walkTimes(v.Field(i), path+"."+v.Type().Field(i).Name, fn)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkTimes(v.Index(i), path+"[]", fn)
		}
	}
}

// account creates and returns an account of dir.
func (e *env) account(dir string) *storage.Account {
	e.t.Helper()
	a := &storage.Account{
		ID:            newID("acct"),
		Directory:     dir,
		Status:        storage.StatusValid,
		Contact:       []string{"mailto:ops@example.com"},
		TermsAgreed:   true,
		KeyThumbprint: newID("tp"),
		KeyJWK:        []byte(`{"kty":"EC","crv":"P-256"}`),
		CreatedAt:     base(),
		UpdatedAt:     base(),
	}
	must(e.t, "CreateAccount", e.s.CreateAccount(e.ctx, a))
	return a
}

// authz builds, without storing, an authorization of acct for a DNS name
// with nChallenges pending challenges.
func (e *env) authz(acct *storage.Account, name string, status storage.Status, expires time.Time, nChallenges int) *storage.Authorization {
	a := &storage.Authorization{
		ID:         newID("authz"),
		Directory:  acct.Directory,
		AccountID:  acct.ID,
		Identifier: storage.Identifier{Type: storage.IdentifierDNS, Value: name},
		Status:     status,
		Expires:    expires,
		CreatedAt:  base(),
		UpdatedAt:  base(),
	}
	types := []storage.ChallengeType{storage.ChallengeHTTP01, storage.ChallengeDNS01, storage.ChallengeTLSALPN01}
	for i := range nChallenges {
		a.Challenges = append(a.Challenges, storage.Challenge{
			ID:        newID("chall"),
			AuthzID:   a.ID,
			Type:      types[i%len(types)],
			Status:    storage.StatusPending,
			Token:     newID("token"),
			UpdatedAt: base(),
		})
	}
	return a
}

// storedAuthz builds and stores an authorization in status with n pending
// challenges.
func (e *env) storedAuthz(acct *storage.Account, status storage.Status, n int) *storage.Authorization {
	e.t.Helper()
	a := e.authz(acct, "www.example.com", status, base().Add(24*time.Hour), n)
	must(e.t, "CreateAuthorization", e.s.CreateAuthorization(e.ctx, a))
	return a
}

// order builds, without storing, an order of acct over authzs.
func (e *env) order(acct *storage.Account, status storage.Status, authzs ...*storage.Authorization) *storage.Order {
	o := &storage.Order{
		ID:        newID("order"),
		Directory: acct.Directory,
		AccountID: acct.ID,
		Status:    status,
		Expires:   base().Add(7 * 24 * time.Hour),
		Profile:   "tlsserver",
		CreatedAt: base(),
		UpdatedAt: base(),
	}
	for _, a := range authzs {
		o.Identifiers = append(o.Identifiers, a.Identifier)
		o.AuthzIDs = append(o.AuthzIDs, a.ID)
	}
	return o
}

// storedOrder stores an order of acct in status with one new authorization.
func (e *env) storedOrder(acct *storage.Account, status storage.Status) *storage.Order {
	e.t.Helper()
	a := e.authz(acct, "www.example.com", storage.StatusValid, base().Add(24*time.Hour), 1)
	o := e.order(acct, status, a)
	must(e.t, "CreateOrder", e.s.CreateOrder(e.ctx, o, []*storage.Authorization{a}, nil))
	return o
}

// job builds an unleased job due at runAt.
func job(kind storage.JobKind, ref string, runAt time.Time) *storage.Job {
	return &storage.Job{
		ID:        newID("job"),
		Kind:      kind,
		Ref:       ref,
		RunAt:     runAt,
		Deadline:  runAt.Add(time.Hour),
		CreatedAt: base(),
	}
}

// finalizing stores an order of acct and moves it to processing with an
// issue job due at base; it returns the order and the job.
func (e *env) finalizing(acct *storage.Account) (*storage.Order, *storage.Job) {
	e.t.Helper()
	o := e.storedOrder(acct, storage.StatusReady)
	j := job(storage.JobIssue, o.ID, base())
	must(e.t, "BeginFinalize", e.s.BeginFinalize(e.ctx, o.ID, []storage.Status{storage.StatusReady}, []byte("csr"), j, base(), nil))
	return o, j
}

// jobsDue returns the jobs a worker could lease at now, leaving them
// unleased again (their Attempts do grow).
func (e *env) jobsDue(now time.Time) []*storage.Job {
	e.t.Helper()
	probe := newID("probe")
	jobs, err := e.s.LeaseJobs(e.ctx, probe, 1000, now, time.Minute)
	must(e.t, "LeaseJobs", err)
	must(e.t, "ReleaseJobs", e.s.ReleaseJobs(e.ctx, probe))
	return jobs
}

// certificate builds a certificate for order o.
func certificate(o *storage.Order, serial string) *storage.Certificate {
	return &storage.Certificate{
		ID:          newID("cert"),
		Directory:   o.Directory,
		AccountID:   o.AccountID,
		OrderID:     o.ID,
		Serial:      serial,
		Issuer:      "CN=acmegate test intermediate",
		Names:       []string{"www.example.com", "example.com"},
		NotBefore:   base(),
		NotAfter:    base().Add(90 * 24 * time.Hour),
		ChainPEM:    []byte("-----BEGIN CERTIFICATE-----\nleaf\n-----END CERTIFICATE-----\n"),
		Alternates:  [][]byte{[]byte("-----BEGIN CERTIFICATE-----\nalt\n-----END CERTIFICATE-----\n")},
		Profile:     o.Profile,
		Backend:     "local",
		UpstreamRef: "up-" + serial,
		Status:      storage.StatusValid,
		CreatedAt:   base(),
	}
}

// concurrently runs fn(i) for i in [0, n) at once and returns the errors.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	for range n {
		<-done
	}
	return errs
}

// countOutcomes counts nil errors and errors matching conflict; any other
// error fails the test.
func countOutcomes(t *testing.T, errs []error) (ok, conflicts int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, storage.ErrConflict):
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	return ok, conflicts
}

func testPing(t *testing.T, e *env) {
	must(t, "Ping", e.s.Ping(e.ctx))
}
