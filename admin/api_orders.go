package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// orderView is an order as the API shows it. Status is the stored status:
// "pending" covers "ready", which the protocol derives from the
// authorizations when a client reads the order.
type orderView struct {
	ID               string               `json:"id"`
	Directory        string               `json:"directory"`
	AccountID        string               `json:"account_id"`
	Status           storage.Status       `json:"status"`
	Identifiers      []storage.Identifier `json:"identifiers"`
	Profile          string               `json:"profile,omitempty"`
	Expires          time.Time            `json:"expires"`
	NotBefore        *time.Time           `json:"not_before,omitempty"`
	NotAfter         *time.Time           `json:"not_after,omitempty"`
	AuthorizationIDs []string             `json:"authorization_ids"`
	// Error is the problem document that made the order invalid.
	Error                 json.RawMessage `json:"error,omitempty"`
	CertificateID         string          `json:"certificate_id,omitempty"`
	UpstreamRef           string          `json:"upstream_ref,omitempty"`
	Approval              *approvalView   `json:"approval,omitempty"`
	Replaces              string          `json:"replaces,omitempty"`
	ReplacesCertificateID string          `json:"replaces_certificate_id,omitempty"`
	CreatedAt             time.Time       `json:"created_at"`
	UpdatedAt             time.Time       `json:"updated_at"`
}

// approvalView is where an order stands in the approval workflow.
type approvalView struct {
	State    storage.ApprovalState `json:"state"`
	By       string                `json:"by,omitempty"`
	Reason   string                `json:"reason,omitempty"`
	Deadline *time.Time            `json:"deadline,omitempty"`
}

func newOrderView(o *storage.Order) orderView {
	v := orderView{
		ID: o.ID, Directory: o.Directory, AccountID: o.AccountID, Status: o.Status, Identifiers: o.Identifiers,
		Profile: o.Profile, Expires: o.Expires, NotBefore: timePtr(o.NotBefore), NotAfter: timePtr(o.NotAfter),
		AuthorizationIDs: o.AuthzIDs, CertificateID: o.CertificateID, UpstreamRef: o.UpstreamRef,
		Replaces: o.Replaces, ReplacesCertificateID: o.ReplacesCertificateID, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt,
	}
	if v.Identifiers == nil {
		v.Identifiers = []storage.Identifier{}
	}
	if v.AuthorizationIDs == nil {
		v.AuthorizationIDs = []string{}
	}
	if json.Valid(o.Error) {
		v.Error = o.Error
	}
	if o.Approval != storage.ApprovalNone {
		v.Approval = &approvalView{State: o.Approval, By: o.ApprovalBy, Reason: o.ApprovalReason, Deadline: timePtr(o.ApprovalDeadline)}
	}
	return v
}

// authorizationView is an authorization with its challenges.
type authorizationView struct {
	ID         string             `json:"id"`
	Identifier storage.Identifier `json:"identifier"`
	Wildcard   bool               `json:"wildcard,omitempty"`
	Status     storage.Status     `json:"status"`
	Expires    time.Time          `json:"expires"`
	Challenges []challengeView    `json:"challenges"`
	CreatedAt  time.Time          `json:"created_at"`
	UpdatedAt  time.Time          `json:"updated_at"`
}

type challengeView struct {
	ID        string                `json:"id"`
	Type      storage.ChallengeType `json:"type"`
	Status    storage.Status        `json:"status"`
	Token     string                `json:"token"`
	Validated *time.Time            `json:"validated,omitempty"`
	// Error is the problem document of the last failed attempt.
	Error     json.RawMessage `json:"error,omitempty"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// eventView is one step of an order's timeline.
type eventView struct {
	At              time.Time `json:"at"`
	Kind            string    `json:"kind"`
	Actor           string    `json:"actor"`
	AuthorizationID string    `json:"authorization_id,omitempty"`
	Identifier      string    `json:"identifier,omitempty"`
	Detail          string    `json:"detail,omitempty"`
	RequestID       string    `json:"request_id,omitempty"`
}

// orderDetail is an order with its authorizations and timeline.
type orderDetail struct {
	orderView
	Authorizations []authorizationView `json:"authorizations"`
	Timeline       []eventView         `json:"timeline"`
}

var (
	orderStatuses = []string{string(storage.StatusPending), string(storage.StatusProcessing), string(storage.StatusValid), string(storage.StatusInvalid)}
	approvalState = []string{string(storage.ApprovalPending), string(storage.ApprovalApproved), string(storage.ApprovalRejected)}
)

func (s *Server) listOrders(c *call) error {
	if err := c.checkQuery("directory", "status", "name", "account", "approval", "created_since", "created_before"); err != nil {
		return err
	}
	f := storage.OrderFilter{Directory: c.query("directory"), AccountID: c.query("account"), Name: c.query("name")}
	status, err := c.queryEnum("status", orderStatuses...)
	if err != nil {
		return err
	}
	approval, err := c.queryEnum("approval", approvalState...)
	if err != nil {
		return err
	}
	f.Status, f.Approval = storage.Status(status), storage.ApprovalState(approval)
	if f.CreatedSince, err = c.queryTime("created_since"); err != nil {
		return err
	}
	if f.CreatedBefore, err = c.queryTime("created_before"); err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	orders, next, err := s.store.ListOrders(c.r.Context(), f, p)
	if err != nil {
		return listError(fmt.Errorf("list orders: %w", err), p)
	}
	views := make([]orderView, len(orders))
	for i, o := range orders {
		views[i] = newOrderView(o)
	}
	replyPage(c, views, next)
	return nil
}

func (s *Server) getOrder(c *call) error {
	ctx := c.r.Context()
	id := c.vars("id")
	o, err := s.store.GetOrder(ctx, id)
	if err != nil {
		return storeError(err, fmt.Sprintf("order %q", id))
	}
	d, err := s.orderDetail(ctx, o)
	if err != nil {
		return err
	}
	c.reply(http.StatusOK, d)
	return nil
}

// orderDetail reads what the order page shows besides the order.
func (s *Server) orderDetail(ctx context.Context, o *storage.Order) (*orderDetail, error) {
	d := &orderDetail{orderView: newOrderView(o), Authorizations: []authorizationView{}, Timeline: []eventView{}}
	if len(o.AuthzIDs) > 0 {
		authzs, err := s.store.GetAuthorizations(ctx, o.AuthzIDs)
		if err != nil {
			return nil, fmt.Errorf("read the authorizations of order %s: %w", o.ID, err)
		}
		for _, a := range authzs {
			av := authorizationView{ID: a.ID, Identifier: a.Identifier, Wildcard: a.Wildcard, Status: a.Status,
				Expires: a.Expires, Challenges: []challengeView{}, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
			for _, ch := range a.Challenges {
				cv := challengeView{ID: ch.ID, Type: ch.Type, Status: ch.Status, Token: ch.Token, Validated: timePtr(ch.Validated), UpdatedAt: ch.UpdatedAt}
				if json.Valid(ch.Error) {
					cv.Error = ch.Error
				}
				av.Challenges = append(av.Challenges, cv)
			}
			d.Authorizations = append(d.Authorizations, av)
		}
	}
	events, err := s.store.ListOrderEvents(ctx, o.ID, o.AuthzIDs)
	if err != nil {
		return nil, fmt.Errorf("read the timeline of order %s: %w", o.ID, err)
	}
	for _, e := range events {
		d.Timeline = append(d.Timeline, eventView{At: e.At, Kind: e.Kind, Actor: e.Actor, AuthorizationID: e.AuthzID,
			Identifier: e.Identifier, Detail: e.Detail, RequestID: e.RequestID})
	}
	return d, nil
}

// maxReasonLength bounds an approval or rejection reason (the subscriber
// sees a rejection's in its problem document).
const maxReasonLength = 1000

func (s *Server) approveOrder(c *call) error { return s.decideOrder(c, true) }
func (s *Server) rejectOrder(c *call) error  { return s.decideOrder(c, false) }

// decideOrder approves or rejects an order awaiting approval.
func (s *Server) decideOrder(c *call, approve bool) error {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := c.decodeBody(&req, approve); err != nil {
		return err
	}
	req.Reason = strings.TrimSpace(req.Reason)
	switch {
	case !approve && req.Reason == "":
		return invalid("reason", "a rejection needs a reason: the subscriber sees it")
	case len(req.Reason) > maxReasonLength:
		return invalid("reason", "at most %d characters", maxReasonLength)
	}
	ctx := c.r.Context()
	id := c.vars("id")
	o, err := s.pendingApproval(ctx, id)
	if o != nil {
		c.dir = o.Directory
	}
	if err != nil {
		return err
	}
	if s.cfg.Approvals == nil {
		return unavailable("this server was started without the approval workflow")
	}
	by := c.tok.Name
	if approve {
		err = s.cfg.Approvals.Approve(ctx, id, by, req.Reason)
	} else {
		err = s.cfg.Approvals.Reject(ctx, id, by, req.Reason)
	}
	if err != nil {
		// Another operator, or the approval deadline, may have decided
		// first: that is a conflict, not a fault.
		if _, perr := s.pendingApproval(ctx, id); perr != nil {
			return perr
		}
		return err
	}
	verb := map[bool]string{true: "approved", false: "rejected"}[approve]
	c.detail = verb + " order " + id
	if req.Reason != "" {
		c.detail += ": " + req.Reason
	}
	if o, err = s.store.GetOrder(ctx, id); err != nil {
		return fmt.Errorf("read the %s order: %w", verb, err)
	}
	c.reply(http.StatusOK, newOrderView(o))
	return nil
}

// pendingApproval reads an order that must be awaiting approval: 404 if
// it does not exist, 409 if it is not awaiting approval. The order is
// returned with the 409, for its directory.
func (s *Server) pendingApproval(ctx context.Context, id string) (*storage.Order, error) {
	o, err := s.store.GetOrder(ctx, id)
	if err != nil {
		return nil, storeError(err, fmt.Sprintf("order %q", id))
	}
	if o.Approval != storage.ApprovalPending {
		state := string(o.Approval)
		if state == "" {
			state = "none needed"
		}
		return o, conflict("order %s is not awaiting approval (status %s, approval: %s)", id, o.Status, state)
	}
	if !s.clock.Now().Before(o.ApprovalDeadline) {
		return o, conflict("the approval of order %s lapsed at %s", id, o.ApprovalDeadline.Format(time.RFC3339))
	}
	return o, nil
}
