package acme

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/storage"
)

// handleChallenge answers POST-as-GET on a challenge and, for any other
// payload (clients send {}), validates it (RFC 8555 §7.5.1): within the
// request when the validation settles in time, else as a persisted job
// while the challenge is processing (answerChallenge).
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
	if !req.PostAsGet && ch.Status == storage.StatusPending {
		if st := authzStatus(a, s.clock.Now()); st != storage.StatusPending {
			return Malformed("the authorization is %s; its challenges can no longer be answered", st)
		}
		if ch, err = s.answerChallenge(ctx, a, req.Account, ch); err != nil {
			return err
		}
	}
	w.Header().Add("Link", link(s.authzURL(dir, a.ID), "up"))
	if ch.Status == storage.StatusProcessing {
		setRetryAfter(w, s.cfg.RetryAfter)
	}
	return writeJSON(w, http.StatusOK, s.challengeObject(dir, ch))
}

// answerChallenge validates the pending challenge ch of a, which acct
// answered, and returns the challenge as it then stands.
//
// The validation runs within the request, bounded by ProcessingHold (and
// ValidationTimeout): most take milliseconds, and a definite outcome, valid
// or a failure no retry mends, is recorded with one FinishChallenge. A
// transient failure (dns, connection) or an attempt that runs out of time
// takes the job's way instead: the challenge becomes processing with a
// validate job (due after the backoff, or at once after a timeout, when the
// job has the whole ValidationTimeout), and the response holds for its
// outcome what remains of ProcessingHold.
//
// Two requests answering the same challenge may both validate; one
// FinishChallenge wins and the other answers with what it stored. A client
// that goes away mid-validation leaves the challenge pending, with nothing
// recorded: it answers the challenge again.
func (s *Server) answerChallenge(ctx context.Context, a *storage.Authorization, acct *storage.Account, ch *storage.Challenge) (*storage.Challenge, error) {
	start := time.Now()
	now := s.clock.Now()
	// The retry window of transient failures starts with the answer.
	deadline := now.Add(max(s.cfg.ValidationRetryWindow, 0))
	runAt := now
	budget := min(s.cfg.ProcessingHold, s.cfg.ValidationTimeout)
	if dl, ok := ctx.Deadline(); ok {
		// Leave the request the time to record what it found.
		budget = min(budget, time.Until(dl)/2)
	}
	if budget > 0 {
		vctx, cancel := context.WithTimeout(ctx, budget)
		verr := s.attemptValidation(vctx, a, acct, ch)
		expired := vctx.Err() != nil
		cancel()
		switch {
		case ctx.Err() != nil:
			// The client went away (or its request timed out): the
			// attempt may have been cut short, so it proves nothing
			// either way.
			return ch, nil
		case verr != nil && expired:
			// Out of time: the job tries again at once, with all of
			// ValidationTimeout. Not a verdict, so not counted.
		default:
			// The first attempt: a transient failure is retried after
			// backoff(1), as the job's first attempt would be.
			v, err := s.judge(ctx, a, ch, verr, 1, deadline)
			if err != nil {
				return nil, err
			}
			if v.status != "" {
				recorded, err := s.settle(ctx, a, ch, v)
				if err != nil {
					return nil, err
				}
				if !recorded {
					// A racing request or job recorded an outcome
					// first: the stored state is the answer.
					return s.readChallenge(ctx, ch.ID)
				}
				// What FinishChallenge stored, so it needs not be
				// read back.
				ch.Status, ch.Error, ch.UpdatedAt = v.status, v.problemJSON, v.at
				if v.status == storage.StatusValid {
					ch.Validated = v.at
				}
				return ch, nil
			}
			runAt = v.at.Add(v.retry)
		}
	}
	job := &storage.Job{
		ID:        uuid.NewString(),
		Kind:      storage.JobValidate,
		Ref:       ch.ID,
		RunAt:     runAt,
		Deadline:  deadline,
		CreatedAt: now,
	}
	// Registered before the job exists, so its outcome cannot be missed.
	finished, stop := s.done.register(ch.ID)
	defer stop()
	err := s.store.StartChallenge(ctx, ch.ID, job, s.clock.Now())
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		return nil, fmt.Errorf("start challenge: %w", err)
	}
	// On conflict another request started or settled it first: answer
	// with the current state either way.
	s.nudge()
	hold(ctx, finished, s.cfg.ProcessingHold-time.Since(start), s.challengeSettled(ctx, ch.ID))
	return s.readChallenge(ctx, ch.ID)
}

func (s *Server) readChallenge(ctx context.Context, id string) (*storage.Challenge, error) {
	ch, err := s.store.GetChallenge(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read challenge: %w", err)
	}
	return ch, nil
}

// nudge wakes the job runner without blocking.
func (s *Server) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
