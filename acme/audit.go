package acme

import (
	"context"
	"log/slog"

	"github.com/acmegate/acmegate/storage"
)

// The audit trail (DESIGN.md §11): an append-only, hash-chained record of
// security-relevant events, distinct from the order timeline (which is for
// following one order). Like the timeline's events, the entry of a state
// transition of the protocol's hot path (order creation, validation,
// issuance) is written in the transition's own transaction (journal); the
// others are appended after the transition they describe has committed,
// and a failure to append is logged, not returned, because the subscriber's
// request succeeded.
//
// Who audits what: this package audits what the protocol does (subscribers'
// requests and the background jobs that act on them), the operator
// revocations that go through Server.RevokeCertificate, and the directories
// of the configuration file (PutConfigDirectories). Operators' own
// mutations (EAB key creation and revocation, approvals and rejections,
// runtime directories, tokens, webhooks) are audited by their callers, the
// admin API and the CLI, because only they know the operator acting and the
// client address; EABKeys, Approvals and PutRuntimeDirectory write no audit
// entries.

// Audit actions written by this package (storage.AuditEntry.Action).
const (
	AuditAccountCreate     = "account.create"
	AuditAccountDeactivate = "account.deactivate"
	AuditAccountKeyChange  = "account.keychange"
	// AuditEABUse is written next to account.create when the account was
	// bound with an External Account Binding key (object "eab:KEYID").
	AuditEABUse      = "eab.use"
	AuditOrderCreate = "order.create"
	// AuditApprovalExpire: a pending approval lapsed and the order became
	// invalid.
	AuditApprovalExpire = "order.approval.expire"
	// AuditChallengeValidate has outcome success or failure (the detail
	// then carries the problem).
	AuditChallengeValidate = "challenge.validate"
	AuditCertificateIssue  = "certificate.issue"
	// AuditCertificateRevoke: the certificate authority confirmed a
	// revocation; with outcome failure, a pending revocation was given up.
	AuditCertificateRevoke = "certificate.revoke"
	// AuditRevocationPending: a revocation was requested but the
	// certificate authority could not be reached; a job retries it.
	AuditRevocationPending = "certificate.revoke.pending"
	// AuditDirectoryConfig: a directory of the configuration file was
	// created or changed at start-up (unchanged ones are not audited).
	AuditDirectoryConfig = "directory.config"
)

// Audit objects name what was acted on.
func accountRef(id string) string   { return "account:" + id }
func orderRef(id string) string     { return "order:" + id }
func challengeRef(id string) string { return "challenge:" + id }
func certRef(serial string) string  { return "certificate:" + serial }

// audit appends one audit entry that goes with no transition (see
// journal for those that do), logging rather than failing. It is stamped:
// At defaults to now, Outcome to success and ClientIP to the peer address of
// the request in ctx, if any.
func (s *Server) audit(ctx context.Context, e *storage.AuditEntry) {
	s.stamp(ctx, nil, []*storage.AuditEntry{e})
	if err := s.store.AppendAudit(context.WithoutCancel(ctx), e); err != nil {
		s.log.Warn("append audit entry", slog.String("action", e.Action), slog.String("object", e.Object), slog.Any("error", err))
	}
}
