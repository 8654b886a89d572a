package digicerttest

import (
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Order statuses the fake uses (upstream-apis.md §2.5).
const (
	StatusNeedsApproval = "needs_approval"
	StatusPending       = "pending"
	StatusIssued        = "issued"
	StatusRejected      = "rejected"
	StatusCanceled      = "canceled"
	StatusRevoked       = "revoked"
)

// Request types and statuses (GET /request/{id}).
const (
	requestNew    = "new_request"
	requestRevoke = "revoke"

	requestPending  = "pending"
	requestApproved = "approved"
	requestRejected = "rejected"
)

// Order is a snapshot of one order the fake holds, for assertions.
type Order struct {
	ID             int
	Product        string
	OrganizationID int
	CommonName     string
	DNSNames       []string
	Comments       string
	ValidityDays   int
	SkipApproval   bool
	Status         string
	// RequestID is the order's new_request.
	RequestID int
	// CertificateID and Serial (uppercase hex) are set once issued.
	CertificateID int
	Serial        string
	// Leaf is the issued certificate, nil before issuance.
	Leaf *x509.Certificate
	// Placed is when the order was created.
	Placed time.Time
}

// Revocation is one revocation the fake received, for assertions.
type Revocation struct {
	CertificateID int
	OrderID       int
	Serial        string
	Comments      string
	Reason        string
	SkipApproval  bool
	// Status is "revoked" (done, HTTP 204) or "pending" (a revoke request
	// awaits approval, HTTP 201).
	Status string
	// RequestID is the revoke request, when one was lodged.
	RequestID int
}

// order is the fake's record of an order; guarded by Server.mu.
type order struct {
	Order
	csr          *x509.CertificateRequest
	pollsLeft    int
	rejectReason string
	issuedAt     time.Time
	leafDER      []byte
}

// request is an approval request (new_request or revoke).
type request struct {
	id               int
	typ              string
	status           string
	orderID          int
	certificateID    int
	comments         string
	processorComment string
	date             time.Time
	dateProcessed    time.Time
}

// state is everything the fake remembers; guarded by Server.mu.
type state struct {
	mode                Mode
	pendingPolls        int
	retryAfter          time.Duration
	revokeNeedsApproval bool
	rootFirst           bool
	products            []Product
	organizations       []Organization
	domains             []string

	nextID      int
	orders      map[int]*order
	byCert      map[int]*order
	requests    map[int]*request
	revocations []Revocation
	log         []RequestRecord
}

func newState(cfg Config) state {
	return state{
		mode:                cfg.Mode,
		pendingPolls:        cfg.PendingPolls,
		retryAfter:          cfg.RetryAfter,
		revokeNeedsApproval: cfg.RevokeNeedsApproval,
		rootFirst:           cfg.RootFirstBundles,
		products:            slices.Clone(cfg.Products),
		organizations:       slices.Clone(cfg.Organizations),
		domains:             slices.Clone(cfg.Domains),
		nextID:              542772,
		orders:              map[int]*order{},
		byCert:              map[int]*order{},
		requests:            map[int]*request{},
	}
}

// newID returns a fresh id; orders, requests and certificates share one
// sequence so that a test mixing them up fails.
func (st *state) newID() int {
	st.nextID += 7
	return st.nextID
}

// Orders returns a snapshot of every order, oldest first.
func (s *Server) Orders() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Order, 0, len(s.st.orders))
	for _, o := range s.st.orders {
		snap := o.Order
		snap.DNSNames = slices.Clone(o.DNSNames)
		out = append(out, snap)
	}
	slices.SortFunc(out, func(a, b Order) int { return a.ID - b.ID })
	return out
}

// OrdersWithComment returns the orders whose comments contain sub: with
// the marker a client puts in comments, the orders placed for one of its
// own order ids.
func (s *Server) OrdersWithComment(sub string) []Order {
	var out []Order
	for _, o := range s.Orders() {
		if strings.Contains(o.Comments, sub) {
			out = append(out, o)
		}
	}
	return out
}

// Revocations returns every revocation received, in order.
func (s *Server) Revocations() []Revocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.revocations)
}

// Approve approves the pending request of the order, as an approver would
// in CertCentral: the order's new_request (the order leaves
// needs_approval), or a pending revoke request for its certificate.
func (s *Server) Approve(orderID int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.st.orders[orderID]
	if !ok {
		return fmt.Errorf("digicerttest: no order %d", orderID)
	}
	for _, rq := range s.st.requests {
		if rq.orderID == orderID && rq.status == requestPending {
			return s.setRequestStatusLocked(rq, requestApproved, "approved in test")
		}
	}
	return fmt.Errorf("digicerttest: order %d (%s) has no pending request", orderID, o.Status)
}

// Reject rejects the order's pending new_request with reason as the
// approver's processor_comment; the order becomes "rejected".
func (s *Server) Reject(orderID int, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.st.orders[orderID]
	if !ok {
		return fmt.Errorf("digicerttest: no order %d", orderID)
	}
	rq := s.st.requests[o.RequestID]
	if o.Status == StatusIssued || o.Status == StatusRevoked {
		return fmt.Errorf("digicerttest: order %d is already %s", orderID, o.Status)
	}
	rq.status, rq.processorComment, rq.dateProcessed = requestRejected, reason, s.now()
	o.Status, o.rejectReason = StatusRejected, reason
	return nil
}

// setRequestStatusLocked applies an approver's decision to rq.
func (s *Server) setRequestStatusLocked(rq *request, status, comment string) error {
	if rq.status != requestPending && rq.status != "submitted" {
		return fmt.Errorf("request %d is %s", rq.id, rq.status)
	}
	rq.status, rq.processorComment, rq.dateProcessed = status, comment, s.now()
	o := s.st.orders[rq.orderID]
	switch {
	case rq.typ == requestNew && status == requestApproved:
		// Lifecycle: needs_approval → approve → pending → issued
		// [DC-orders-req].
		o.Status = StatusPending
		o.pollsLeft = s.st.pendingPolls
	case rq.typ == requestNew && status == requestRejected:
		o.Status, o.rejectReason = StatusRejected, comment
	case rq.typ == requestRevoke && status == requestApproved:
		s.markRevokedLocked(o)
		for i := range s.st.revocations {
			if s.st.revocations[i].RequestID == rq.id {
				s.st.revocations[i].Status = StatusRevoked
			}
		}
	}
	return nil
}
