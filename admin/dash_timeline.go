package admin

import (
	"strings"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

// The order's step timeline: the account, then each identifier's proof
// (validated, pre-validated, reused, failed), finalization, the approval,
// the submission to the CA, issuance, downloads and revocation, each with
// its time and actor, built from the order's and its authorizations'
// events (kinds are acme's Event* constants).

// Step states, which are also CSS classes.
const (
	stepDone    = "done"
	stepFailed  = "failed"
	stepCurrent = "current"
	stepNext    = "next"
	stepWarn    = "warn"
)

// timelineStep is one line of the timeline.
type timelineStep struct {
	At     time.Time
	Title  string
	Actor  string
	Detail string
	State  string
	// Count is how many times the step happened (downloads), when more
	// than once; At is then the first time.
	Count int
}

// buildTimeline turns an order's events into steps, oldest first, and
// adds what the order waits for now, if anything.
func buildTimeline(o *storage.Order, acct *storage.Account, authzs []*storage.Authorization, events []*storage.OrderEvent, now time.Time) []timelineStep {
	var steps []timelineStep
	if acct != nil {
		steps = append(steps, timelineStep{At: acct.CreatedAt, Title: "Account created", Actor: "account:" + acct.ID,
			Detail: "directory " + acct.Directory + contactSuffix(acct.Contact), State: stepDone})
	} else {
		steps = append(steps, timelineStep{Title: "Account " + o.AccountID, Detail: "the account record is gone", State: stepWarn})
	}
	downloads := -1
	for _, e := range events {
		st := timelineStep{At: e.At, Actor: e.Actor, Detail: e.Detail, State: stepDone}
		name := e.Identifier
		switch e.Kind {
		case acme.EventCreated:
			st.Title = "Order created"
		case acme.EventAuthzReused:
			st.Title = name + ": earlier validation reused"
		case acme.EventPreValidated:
			st.Title = name + ": pre-validated"
		case acme.EventValidated:
			st.Title = name + ": validated"
		case acme.EventValidationFailed:
			st.Title, st.State = name+": validation failed", stepFailed
		case acme.EventFinalizeRequested:
			st.Title = "Finalize requested"
		case acme.EventAwaitingApproval:
			st.Title = "Awaiting approval"
			if o.Approval == storage.ApprovalPending {
				st.State = stepCurrent
			}
		case acme.EventApproved:
			st.Title = "Approved by " + operatorName(e.Actor)
			st.Detail = reasonText(e.Detail)
		case acme.EventRejected:
			st.Title, st.State = "Rejected by "+operatorName(e.Actor), stepFailed
			st.Detail = reasonText(e.Detail)
		case acme.EventApprovalExpired:
			st.Title, st.State = "Approval lapsed: no operator decided in time", stepFailed
		case acme.EventSubmitted:
			st.Title = "Submitted to the certificate authority"
		case acme.EventIssued:
			st.Title = "Certificate issued"
		case acme.EventDownloaded:
			// A client may fetch its certificate many times: one step.
			if downloads >= 0 {
				steps[downloads].Count++
				continue
			}
			st.Title, st.Count = "Certificate downloaded", 1
			downloads = len(steps)
		case acme.EventRevocationPending:
			st.Title, st.State = "Revocation requested; the CA has not confirmed it yet", stepWarn
		case acme.EventRevoked:
			st.Title, st.State = "Certificate revoked", stepWarn
		case acme.EventRevocationFailed:
			st.Title, st.State = "Revocation failed at the CA", stepFailed
		case acme.EventFailed:
			st.Title, st.State = "Order failed", stepFailed
		default:
			st.Title = e.Kind
			if name != "" {
				st.Title = name + ": " + e.Kind
			}
		}
		steps = append(steps, st)
	}
	if downloads >= 0 && steps[downloads].Count == 1 {
		steps[downloads].Count = 0
	}
	return append(steps, waitingSteps(o, authzs, now)...)
}

// waitingSteps are the steps an order still waits for.
func waitingSteps(o *storage.Order, authzs []*storage.Authorization, now time.Time) []timelineStep {
	switch o.Status {
	case storage.StatusPending:
		if !now.Before(o.Expires) {
			return []timelineStep{{At: o.Expires, Title: "Order expired before it was finalized", State: stepFailed}}
		}
		var waiting []string
		for _, a := range authzs {
			if a.Status == storage.StatusPending {
				waiting = append(waiting, a.Identifier.Value)
			}
		}
		if len(waiting) > 0 {
			return []timelineStep{{Title: "Waiting for the client to prove control of " + strings.Join(waiting, ", "), State: stepNext}}
		}
		return []timelineStep{{Title: "Waiting for the client to finalize", State: stepNext}}
	case storage.StatusProcessing:
		if o.Approval == storage.ApprovalPending {
			return []timelineStep{{Title: "Waiting for an operator's decision", Detail: "lapses at " + dashTime(o.ApprovalDeadline) + " UTC", State: stepNext}}
		}
		return []timelineStep{{Title: "Waiting for the certificate authority", State: stepNext}}
	}
	return nil
}

// operatorName is the name in an "operator:NAME" actor.
func operatorName(actor string) string {
	if n, ok := strings.CutPrefix(actor, "operator:"); ok {
		return n
	}
	return actor
}

func reasonText(r string) string {
	if r == "" {
		return "no reason given"
	}
	return "reason: " + r
}

func contactSuffix(contact []string) string {
	if len(contact) == 0 {
		return ""
	}
	return ", contact " + strings.Join(contact, ", ")
}
