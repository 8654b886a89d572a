package acme

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/policy"
	"github.com/acmegate/acmegate/storage"
)

type newOrderRequest struct {
	Identifiers []Identifier `json:"identifiers"`
	NotBefore   string       `json:"notBefore"`
	NotAfter    string       `json:"notAfter"`
	Profile     string       `json:"profile"`
	// Replaces is the ARI identifier of the certificate this order renews.
	Replaces string `json:"replaces"`
}

// handleNewOrder creates an order (RFC 8555 §7.4), reusing valid
// authorizations the account already holds for the same identifiers.
func (s *Server) handleNewOrder(w http.ResponseWriter, r *http.Request, d *directory) error {
	dir := d.name
	req, err := s.postForAccount(r, d)
	if err != nil {
		return err
	}
	ctx := r.Context()
	acct := req.Account
	eventFrom(ctx).Account = acct.ID
	var body newOrderRequest
	if err := decodePayload(req, &body); err != nil {
		return err
	}
	if len(body.Identifiers) == 0 {
		return Malformed("an order needs at least one identifier")
	}
	if err := refuseIfDisabled(d); err != nil {
		return err
	}
	ids, err := s.checkIdentifiers(d, body.Identifiers)
	if err != nil {
		return err
	}
	if err := s.checkRateLimits(ctx, d, acct.ID, true); err != nil {
		return err
	}
	now := s.clock.Now()
	notBefore, notAfter, err := s.checkValidity(d, body.NotBefore, body.NotAfter, now)
	if err != nil {
		return err
	}
	profile, err := d.profile(body.Profile)
	if err != nil {
		return err
	}
	order := &storage.Order{
		ID:          uuid.NewString(),
		Directory:   dir,
		AccountID:   acct.ID,
		Status:      storage.StatusPending,
		Expires:     now.Add(s.cfg.OrderLifetime),
		NotBefore:   notBefore,
		NotAfter:    notAfter,
		Identifiers: ids,
		Profile:     profile,
		CreatedAt:   now,
		UpdatedAt:   now,
	}
	if body.Replaces != "" {
		old, err := s.checkReplaces(ctx, d, acct, body.Replaces, ids)
		if err != nil {
			return err
		}
		order.Replaces, order.ReplacesCertificateID = body.Replaces, old.ID
	}
	// authzs are the order's authorizations as stored, for the response:
	// the reused ones as read, the fresh ones as about to be created.
	var fresh, authzs []*storage.Authorization
	events := []*storage.OrderEvent{{OrderID: order.ID, Kind: EventCreated, Actor: accountActor(acct.ID), Detail: identifierList(ids)}}
	for _, id := range ids {
		base, wildcard := splitWildcard(id)
		a, err := s.store.FindReusableAuthorization(ctx, acct.ID, base, wildcard, now.Add(time.Hour))
		switch {
		case err == nil:
			// An order cannot outlive an authorization it relies on.
			if a.Expires.Before(order.Expires) {
				order.Expires = a.Expires
			}
			events = append(events, &storage.OrderEvent{OrderID: order.ID, AuthzID: a.ID, Kind: EventAuthzReused, Actor: actorSystem, Identifier: id.Value,
				Detail: "a valid authorization of the account until " + timeString(a.Expires)})
		case errors.Is(err, storage.ErrNotFound):
			a = s.newAuthorization(d, acct.ID, base, wildcard, now)
			fresh = append(fresh, a)
			if a.Status == storage.StatusValid {
				events = append(events, &storage.OrderEvent{OrderID: order.ID, AuthzID: a.ID, Kind: EventPreValidated, Actor: actorSystem, Identifier: id.Value,
					Detail: preValidationReason(d, base)})
			}
		default:
			return fmt.Errorf("look up reusable authorization: %w", err)
		}
		order.AuthzIDs = append(order.AuthzIDs, a.ID)
		authzs = append(authzs, a)
	}
	detail := identifierList(ids)
	if profile != "" {
		detail += "; profile " + profile
	}
	// The timeline and the audit trail are written with the order, in one
	// transaction.
	j := s.journal(ctx, events, &storage.AuditEntry{At: now, Actor: accountActor(acct.ID), Directory: dir, Action: AuditOrderCreate,
		Object: orderRef(order.ID), Detail: detail})
	if err := s.store.CreateOrder(ctx, order, fresh, j); err != nil {
		if order.ReplacesCertificateID != "" && errors.Is(err, storage.ErrConflict) {
			return AlreadyReplaced("the certificate %s was replaced by another order meanwhile", order.Replaces)
		}
		return fmt.Errorf("create order: %w", err)
	}
	eventFrom(ctx).Order = order.ID
	w.Header().Set("Location", s.orderURL(dir, order.ID))
	return writeJSON(w, http.StatusCreated, s.orderObject(order, authzs, now))
}

// checkIdentifiers applies identifier policy and returns the normalised
// identifiers, or a problem with one subproblem per refused identifier.
func (s *Server) checkIdentifiers(d *directory, in []Identifier) ([]storage.Identifier, error) {
	pids := make([]policy.Identifier, len(in))
	for i, id := range in {
		pids[i] = policy.Identifier{Type: policy.IdentifierType(id.Type), Value: id.Value}
	}
	norm, err := d.policy.CheckIdentifiers(pids)
	if err != nil {
		return nil, policyProblem(err)
	}
	out := make([]storage.Identifier, len(norm))
	for i, id := range norm {
		out[i] = storage.Identifier{Type: storage.IdentifierType(id.Type), Value: id.Value}
	}
	return out, nil
}

// checkValidity parses and checks the requested notBefore/notAfter
// (RFC 8555 §7.4): both optional, RFC 3339, notAfter after notBefore and in
// the future, and no longer than the maximum validity.
func (s *Server) checkValidity(d *directory, nb, na string, now time.Time) (time.Time, time.Time, error) {
	var notBefore, notAfter time.Time
	var err error
	if nb != "" {
		if notBefore, err = time.Parse(time.RFC3339, nb); err != nil {
			return notBefore, notAfter, Malformed("notBefore %q is not an RFC 3339 date-time", truncate(nb, 64))
		}
		notBefore = notBefore.UTC()
		if notBefore.After(now.Add(s.cfg.OrderLifetime)) {
			return notBefore, notAfter, Malformed("notBefore %s is further in the future than this server keeps orders (%s)", nb, s.cfg.OrderLifetime)
		}
	}
	if na != "" {
		if notAfter, err = time.Parse(time.RFC3339, na); err != nil {
			return notBefore, notAfter, Malformed("notAfter %q is not an RFC 3339 date-time", truncate(na, 64))
		}
		notAfter = notAfter.UTC()
		if !notAfter.After(now) {
			return notBefore, notAfter, Malformed("notAfter %s is in the past", na)
		}
	}
	start := notBefore
	if start.IsZero() {
		start = now
	}
	if !notAfter.IsZero() {
		if !notAfter.After(start) {
			return notBefore, notAfter, Malformed("notAfter %s must be after notBefore %s", na, timeString(start))
		}
		limit := s.cfg.MaxValidity
		if pv := d.policy.MaxValidity(); pv > 0 && pv < limit {
			limit = pv
		}
		if notAfter.Sub(start) > limit {
			return notBefore, notAfter, Malformed("the requested validity of %s exceeds the maximum of %s", notAfter.Sub(start).Round(time.Second), limit)
		}
	}
	return notBefore, notAfter, nil
}

// profile resolves the profile an order asks for: the directory's default
// when it names none, and invalidProfile for one the directory does not offer
// (draft-aaron-acme-profiles).
func (d *directory) profile(name string) (string, error) {
	if name == "" {
		return d.defaultProfile, nil
	}
	if _, ok := d.profiles[name]; ok {
		return name, nil
	}
	names := make([]string, 0, len(d.profiles))
	for n := range d.profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return "", InvalidProfile("profile %q is not offered by directory %q; available: %s", truncate(name, 64), d.name, strings.Join(names, ", "))
}

// splitWildcard turns "*.example.com" into the authorization's identifier
// "example.com" with the wildcard flag (RFC 8555 §7.1.4).
func splitWildcard(id storage.Identifier) (storage.Identifier, bool) {
	if id.Type == storage.IdentifierDNS && strings.HasPrefix(id.Value, "*.") {
		return storage.Identifier{Type: id.Type, Value: id.Value[2:]}, true
	}
	return id, false
}

// newAuthorization builds a pending authorization with the challenges its
// identifier allows: dns-01 only for a wildcard (RFC 8555 §7.1.4), no
// dns-01 for an IP address (RFC 8738 §7).
func (s *Server) newAuthorization(d *directory, accountID string, id storage.Identifier, wildcard bool, now time.Time) *storage.Authorization {
	a := &storage.Authorization{
		ID:         uuid.NewString(),
		Directory:  d.name,
		AccountID:  accountID,
		Identifier: id,
		Wildcard:   wildcard,
		Status:     storage.StatusPending,
		Expires:    now.Add(s.cfg.PendingAuthzLifetime),
		CreatedAt:  now,
		UpdatedAt:  now,
	}
	// Pre-validated names (the company already proved them) and private
	// directories that never validate get an authorization that is valid
	// from the start, without challenges.
	if d.policy.SkipsValidation() {
		a.Status, a.Expires = storage.StatusValid, now.Add(s.cfg.ValidAuthzLifetime)
		return a
	}
	if _, ok := d.policy.PreValidated(policy.Identifier{Type: policy.IdentifierType(id.Type), Value: id.Value}); ok {
		a.Status, a.Expires = storage.StatusValid, now.Add(s.cfg.ValidAuthzLifetime)
		return a
	}
	var types []storage.ChallengeType
	switch {
	case wildcard:
		types = []storage.ChallengeType{storage.ChallengeDNS01}
	case id.Type == storage.IdentifierIP:
		types = []storage.ChallengeType{storage.ChallengeHTTP01, storage.ChallengeTLSALPN01}
	default:
		types = []storage.ChallengeType{storage.ChallengeHTTP01, storage.ChallengeDNS01, storage.ChallengeTLSALPN01}
	}
	for _, t := range types {
		a.Challenges = append(a.Challenges, storage.Challenge{
			ID:        uuid.NewString(),
			AuthzID:   a.ID,
			Type:      t,
			Status:    storage.StatusPending,
			Token:     newToken(),
			UpdatedAt: now,
		})
	}
	return a
}

// newToken returns a challenge token with 128 bits of entropy, base64url
// (RFC 8555 §8.3 asks for at least 128).
func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// handleOrder answers POST-as-GET on an order (RFC 8555 §7.4).
func (s *Server) handleOrder(w http.ResponseWriter, r *http.Request, d *directory) error {
	req, err := s.postForAccount(r, d)
	if err != nil {
		return err
	}
	if !req.PostAsGet {
		return Malformed("an order is read with POST-as-GET (empty payload)")
	}
	order, authzs, err := s.loadOrder(r.Context(), req, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	return s.writeOrder(w, order, authzs, http.StatusOK)
}

func (s *Server) writeOrder(w http.ResponseWriter, order *storage.Order, authzs []*storage.Authorization, status int) error {
	obj := s.orderObject(order, authzs, s.clock.Now())
	if obj.Status == storage.StatusProcessing {
		if order.Approval == storage.ApprovalPending {
			setRetryAfter(w, approvalRetryAfter)
		} else {
			setRetryAfter(w, s.cfg.RetryAfter)
		}
	}
	w.Header().Set("Location", s.orderURL(order.Directory, order.ID))
	return writeJSON(w, status, obj)
}

// loadOrder reads an order of the authenticated account with its
// authorizations.
func (s *Server) loadOrder(ctx context.Context, req *authedRequest, id string) (*storage.Order, []*storage.Authorization, error) {
	eventFrom(ctx).Account = req.Account.ID
	eventFrom(ctx).Order = id
	order, err := s.store.GetOrder(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && order.Directory != req.Directory) {
		return nil, nil, notFound("order")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read order: %w", err)
	}
	if order.AccountID != req.Account.ID {
		return nil, nil, Unauthorized("the order belongs to another account")
	}
	authzs, err := s.store.GetAuthorizations(ctx, order.AuthzIDs)
	if err != nil {
		return nil, nil, fmt.Errorf("read order authorizations: %w", err)
	}
	return order, authzs, nil
}

// identifierList is "a.example, b.example" for the timeline.
func identifierList(ids []storage.Identifier) string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = id.Value
	}
	return strings.Join(names, ", ")
}

// preValidationReason says why an authorization was created valid.
func preValidationReason(d *directory, id storage.Identifier) string {
	if d.policy.SkipsValidation() {
		return "directory " + d.name + " does not require validation"
	}
	if dom, ok := d.policy.PreValidated(policy.Identifier{Type: policy.IdentifierType(id.Type), Value: id.Value}); ok {
		return "pre-validated by the domain " + dom
	}
	return "pre-validated"
}
