package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/acmegate/acmegate/notify"
	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/validation"
)

// runValidation performs one attempt of a challenge's validation and
// records the outcome (RFC 8555 §7.5.1, §8.2). Transient failures (dns,
// connection) are retried until the job's deadline; anything else, or a
// transient failure past the deadline, makes the challenge invalid.
func (s *Server) runValidation(ctx context.Context, j *storage.Job) error {
	ch, err := s.store.GetChallenge(ctx, j.Ref)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read challenge: %w", err)
	}
	if ch.Status != storage.StatusProcessing {
		return nil // already decided (a duplicate or a finished job)
	}
	a, err := s.store.GetAuthorization(ctx, ch.AuthzID)
	if err != nil {
		return fmt.Errorf("read authorization: %w", err)
	}
	acct, err := s.store.GetAccount(ctx, a.AccountID)
	if err != nil {
		return fmt.Errorf("read account: %w", err)
	}
	now := s.clock.Now()
	var verr error
	if st := authzStatus(a, now); st != storage.StatusPending {
		verr = &validation.Error{Kind: validation.KindUnauthorized, Detail: fmt.Sprintf("the authorization became %s before validation", st)}
	} else {
		vctx, cancel := context.WithTimeout(ctx, s.cfg.ValidationTimeout)
		verr = s.validator.Validate(vctx, validation.Request{
			ChallengeType:    string(ch.Type),
			IdentifierType:   string(a.Identifier.Type),
			Identifier:       a.Identifier.Value,
			Token:            ch.Token,
			KeyAuthorization: ch.Token + "." + acct.KeyThumbprint,
		})
		if verr == nil {
			verr = s.checkCAA(vctx, a, acct, ch)
		}
		cancel()
	}
	now = s.clock.Now()
	if verr == nil {
		err := s.store.FinishChallenge(ctx, ch.ID, storage.StatusValid, nil, now)
		if err != nil && !errors.Is(err, storage.ErrConflict) {
			return fmt.Errorf("record valid challenge: %w", err)
		}
		s.done.notify(ch.ID)
		s.metrics.validation(ch.Type, "valid")
		s.record(ctx, &storage.OrderEvent{AuthzID: a.ID, Kind: EventValidated, Actor: actorSystem, Identifier: displayName(a), Detail: string(ch.Type)})
		if err != nil {
			return nil // another attempt recorded the outcome and audited it
		}
		s.audit(ctx, &storage.AuditEntry{At: now, Actor: actorSystem, Directory: a.Directory, Action: AuditChallengeValidate,
			Object: challengeRef(ch.ID), Detail: string(ch.Type) + " for " + displayName(a) + " (account " + a.AccountID + ")"})
		s.log.Info("challenge valid", slog.String("challenge", ch.ID), slog.String("type", string(ch.Type)), slog.String("identifier", a.Identifier.Value))
		return nil
	}
	if ctx.Err() != nil {
		// Shutting down: the attempt says nothing about the subscriber's
		// setup. The job keeps its lease until it expires or is released,
		// and another attempt runs then.
		return &errRetryLater{after: time.Second, cause: verr}
	}
	var ve *validation.Error
	if !errors.As(verr, &ve) {
		ve = &validation.Error{Kind: validation.KindConnection, Detail: verr.Error()}
	}
	transient := ve.Kind == validation.KindDNS || ve.Kind == validation.KindConnection
	if wait := backoff(j.Attempts); transient && now.Add(wait).Before(j.Deadline) {
		s.metrics.validation(ch.Type, "retry")
		return &errRetryLater{after: wait, cause: verr}
	}
	prob := validationProblem(ve).WithIdentifier(string(a.Identifier.Type), a.Identifier.Value)
	pj, err := json.Marshal(prob)
	if err != nil {
		return fmt.Errorf("encode problem: %w", err)
	}
	err = s.store.FinishChallenge(ctx, ch.ID, storage.StatusInvalid, pj, now)
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("record invalid challenge: %w", err)
	}
	s.done.notify(ch.ID)
	s.metrics.validation(ch.Type, "invalid")
	s.record(ctx, &storage.OrderEvent{AuthzID: a.ID, Kind: EventValidationFailed, Actor: actorSystem, Identifier: displayName(a), Detail: string(ch.Type) + ": " + prob.Detail})
	if err != nil {
		return nil // another attempt recorded the outcome and audited it
	}
	s.audit(ctx, &storage.AuditEntry{At: now, Actor: actorSystem, Directory: a.Directory, Action: AuditChallengeValidate,
		Object: challengeRef(ch.ID), Outcome: storage.OutcomeFailure,
		Detail: string(ch.Type) + " for " + displayName(a) + " (account " + a.AccountID + "): " + prob.Detail})
	// An invalid authorization makes every order relying on it invalid.
	// The authorization may serve several orders, so no order id is named.
	s.notify(ctx, notify.Event{Type: notify.OrderFailed, Directory: a.Directory, AccountID: a.AccountID,
		Names: []string{displayName(a)}, Detail: string(ch.Type) + " validation of " + displayName(a) + " failed: " + prob.Detail})
	s.log.Info("challenge invalid", slog.String("challenge", ch.ID), slog.String("type", string(ch.Type)), slog.String("identifier", a.Identifier.Value), slog.Any("problem", prob))
	return nil
}

// validationProblem maps a validation failure to its RFC 8555 §6.7 type.
func validationProblem(e *validation.Error) *Problem {
	t := map[validation.Kind]ProblemType{
		validation.KindDNS:                ProblemDNS,
		validation.KindConnection:         ProblemConnection,
		validation.KindUnauthorized:       ProblemUnauthorized,
		validation.KindIncorrectResponse:  ProblemIncorrectResponse,
		validation.KindTLS:                ProblemTLS,
		validation.KindRejectedIdentifier: ProblemRejectedIdentifier,
		validation.KindMalformed:          ProblemMalformed,
		validation.KindCAA:                ProblemCAA,
	}[e.Kind]
	if t == "" {
		t = ProblemUnauthorized
	}
	p := newProblem(t, 0, "%s", e.Detail)
	p.Status = statusFor(t)
	return p
}

// statusFor is the HTTP status that goes with a problem type.
func statusFor(t ProblemType) int {
	switch t {
	case ProblemUnauthorized, ProblemCAA, ProblemOrderNotReady, ProblemUserActionRequired:
		return 403
	case ProblemServerInternal:
		return 500
	case ProblemRateLimited:
		return 429
	case ProblemExternalAccountRequired:
		return 401
	case ProblemAlreadyReplaced:
		return 409
	}
	return 400
}

// checkCAA applies the directory's CAA check (RFC 8659, RFC 8657) once
// control is proven: the records of the name must authorize one of the
// directory's CAA identities for this account and method.
func (s *Server) checkCAA(ctx context.Context, a *storage.Authorization, acct *storage.Account, ch *storage.Challenge) error {
	if a.Identifier.Type != storage.IdentifierDNS {
		return nil
	}
	d, err := s.dirs.get(ctx, a.Directory)
	if err != nil {
		return fmt.Errorf("directory %s: %w", a.Directory, err)
	}
	if !d.settings.CheckCAA {
		return nil
	}
	return s.validator.CheckCAA(ctx, validation.CAARequest{
		Identifier: a.Identifier.Value,
		Wildcard:   a.Wildcard,
		Identities: d.settings.CAAIdentities,
		AccountURI: s.accountURL(acct.Directory, acct.ID),
		Method:     string(ch.Type),
	})
}
