package acme

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/storage"
)

// handleChallenge answers POST-as-GET on a challenge and, for any other
// payload (clients send {}), starts its validation (RFC 8555 §7.5.1).
// Validation runs as a persisted job; the challenge is processing until
// the job records the outcome.
func (s *Server) handleChallenge(w http.ResponseWriter, r *http.Request, d *directory) error {
	dir := d.name
	req, err := s.postForAccount(r, d)
	if err != nil {
		return err
	}
	ctx := r.Context()
	chID := mux.Vars(r)["id"]
	ch, err := s.store.GetChallenge(ctx, chID)
	if errors.Is(err, storage.ErrNotFound) {
		return notFound("challenge")
	}
	if err != nil {
		return fmt.Errorf("read challenge: %w", err)
	}
	a, err := s.loadAuthz(ctx, req, ch.AuthzID)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	if !req.PostAsGet && ch.Status == storage.StatusPending {
		if st := authzStatus(a, now); st != storage.StatusPending {
			return Malformed("the authorization is %s; its challenges can no longer be answered", st)
		}
		job := &storage.Job{
			ID:        uuid.NewString(),
			Kind:      storage.JobValidate,
			Ref:       ch.ID,
			RunAt:     now,
			Deadline:  now.Add(max(s.cfg.ValidationRetryWindow, 0)),
			CreatedAt: now,
		}
		finished, stop := s.done.register(ch.ID)
		defer stop()
		err := s.store.StartChallenge(ctx, ch.ID, job, now)
		if err != nil && !errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("start challenge: %w", err)
		}
		// On conflict another request started it first: answer with the
		// current state either way.
		s.nudge()
		hold(ctx, finished, s.cfg.ProcessingHold, s.challengeSettled(ctx, ch.ID))
		if ch, err = s.store.GetChallenge(ctx, chID); err != nil {
			return fmt.Errorf("read challenge: %w", err)
		}
	}
	w.Header().Add("Link", link(s.authzURL(dir, a.ID), "up"))
	if ch.Status == storage.StatusProcessing {
		setRetryAfter(w, s.cfg.RetryAfter)
	}
	return writeJSON(w, http.StatusOK, s.challengeObject(dir, ch))
}

// nudge wakes the job runner without blocking.
func (s *Server) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
