package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/storage"
)

type newAuthzRequest struct {
	Identifier *Identifier `json:"identifier"`
}

// handleNewAuthz pre-authorizes an identifier (RFC 8555 §7.4.1), so a team
// can prove control of a name before it orders certificates for it.
func (s *Server) handleNewAuthz(w http.ResponseWriter, r *http.Request, d *directory) error {
	dir := d.name
	req, err := s.postForAccount(r, d)
	if err != nil {
		return err
	}
	ctx := r.Context()
	eventFrom(ctx).Account = req.Account.ID
	var body newAuthzRequest
	if err := decodePayload(req, &body); err != nil {
		return err
	}
	if body.Identifier == nil {
		return Malformed("newAuthz needs an identifier")
	}
	if err := refuseIfDisabled(d); err != nil {
		return err
	}
	ids, err := s.checkIdentifiers(d, []Identifier{*body.Identifier})
	if err != nil {
		return err
	}
	if err := s.checkRateLimits(ctx, d, req.Account.ID, false); err != nil {
		return err
	}
	id, wildcard := splitWildcard(ids[0])
	if wildcard {
		// RFC 8555 §7.4.1: pre-authorization cannot authorize a wildcard.
		return RejectedIdentifier("wildcard names cannot be pre-authorized; order %s directly", body.Identifier.Value).
			WithIdentifier(body.Identifier.Type, body.Identifier.Value)
	}
	now := s.clock.Now()
	a := s.newAuthorization(d, req.Account.ID, id, false, now)
	if err := s.store.CreateAuthorization(ctx, a); err != nil {
		return fmt.Errorf("create authorization: %w", err)
	}
	w.Header().Set("Location", s.authzURL(dir, a.ID))
	return writeJSON(w, http.StatusCreated, s.authzObject(a, now))
}

type authzUpdateRequest struct {
	Status string `json:"status"`
}

// handleAuthz answers POST-as-GET on an authorization and its deactivation
// (RFC 8555 §7.5, §7.5.2).
func (s *Server) handleAuthz(w http.ResponseWriter, r *http.Request, d *directory) error {
	req, err := s.postForAccount(r, d)
	if err != nil {
		return err
	}
	ctx := r.Context()
	a, err := s.loadAuthz(ctx, req, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	now := s.clock.Now()
	if req.PostAsGet && authzStatus(a, now) == storage.StatusPending {
		if a, err = s.holdForValidation(ctx, a); err != nil {
			return err
		}
	}
	if !req.PostAsGet {
		var body authzUpdateRequest
		if err := decodePayload(req, &body); err != nil {
			return err
		}
		if body.Status != string(storage.StatusDeactivated) {
			return Malformed("an authorization's status can only be changed to deactivated, not %q", truncate(body.Status, 32))
		}
		if st := authzStatus(a, now); st != storage.StatusPending && st != storage.StatusValid {
			return Malformed("an authorization that is %s cannot be deactivated", st)
		}
		if err := s.store.DeactivateAuthorization(ctx, a.ID, now); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return Malformed("the authorization changed state; it can no longer be deactivated")
			}
			return fmt.Errorf("deactivate authorization: %w", err)
		}
		if a, err = s.store.GetAuthorization(ctx, a.ID); err != nil {
			return fmt.Errorf("read authorization: %w", err)
		}
	}
	obj := s.authzObject(a, now)
	if obj.Status == storage.StatusPending && anyProcessing(a) {
		setRetryAfter(w, s.cfg.RetryAfter)
	}
	return writeJSON(w, http.StatusOK, obj)
}

func anyProcessing(a *storage.Authorization) bool {
	for _, c := range a.Challenges {
		if c.Status == storage.StatusProcessing {
			return true
		}
	}
	return false
}

// loadAuthz reads an authorization of the authenticated account.
func (s *Server) loadAuthz(ctx context.Context, req *authedRequest, id string) (*storage.Authorization, error) {
	eventFrom(ctx).Account = req.Account.ID
	a, err := s.store.GetAuthorization(ctx, id)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && a.Directory != req.Directory) {
		return nil, notFound("authorization")
	}
	if err != nil {
		return nil, fmt.Errorf("read authorization: %w", err)
	}
	if a.AccountID != req.Account.ID {
		return nil, Unauthorized("the authorization belongs to another account")
	}
	return a, nil
}

// holdForValidation waits (bounded) for a validation of a's in progress to
// finish and returns the authorization as it then is.
func (s *Server) holdForValidation(ctx context.Context, a *storage.Authorization) (*storage.Authorization, error) {
	for _, c := range a.Challenges {
		if c.Status != storage.StatusProcessing {
			continue
		}
		finished, stop := s.done.register(c.ID)
		defer stop()
		// Read again after registering, so an outcome recorded in between
		// is not missed.
		cur, err := s.store.GetChallenge(ctx, c.ID)
		if err != nil {
			return nil, fmt.Errorf("read challenge: %w", err)
		}
		if cur.Status == storage.StatusProcessing {
			hold(ctx, finished, s.cfg.ProcessingHold, s.challengeSettled(ctx, c.ID))
		}
		b, err := s.store.GetAuthorization(ctx, a.ID)
		if err != nil {
			return nil, fmt.Errorf("read authorization: %w", err)
		}
		return b, nil
	}
	return a, nil
}
