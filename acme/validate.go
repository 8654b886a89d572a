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

// runValidation is the validate job: one attempt of a challenge's
// validation that its client's request did not settle (the attempt there
// failed transiently, ran out of time, or ProcessingHold disables it), and
// the record of its outcome (RFC 8555 §7.5.1, §8.2). Transient failures
// (dns, connection) are retried until the job's deadline; anything else,
// or a transient failure past the deadline, makes the challenge invalid.
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
	var verr error
	if st := authzStatus(a, s.clock.Now()); st != storage.StatusPending {
		verr = &validation.Error{Kind: validation.KindUnauthorized, Detail: fmt.Sprintf("the authorization became %s before validation", st)}
	} else {
		vctx, cancel := context.WithTimeout(ctx, s.cfg.ValidationTimeout)
		verr = s.attemptValidation(vctx, a, acct, ch)
		cancel()
	}
	if verr != nil && ctx.Err() != nil {
		// Shutting down: the attempt says nothing about the subscriber's
		// setup. The job keeps its lease until it expires or is released,
		// and another attempt runs then.
		return &errRetryLater{after: time.Second, cause: verr}
	}
	v, err := s.judge(ctx, a, ch, verr, j.Attempts, j.Deadline)
	if err != nil {
		return err
	}
	if v.status == "" {
		return &errRetryLater{after: v.retry, cause: verr}
	}
	recorded, err := s.settle(ctx, a, ch, v)
	if err != nil {
		return err
	}
	if recorded {
		return errJobRemoved
	}
	return nil // another attempt recorded an outcome, and with it deleted this job
}

// attemptValidation makes one validation attempt of challenge ch of a,
// within ctx: control of the identifier (validation.Validator.Validate),
// then, once control is proven, CAA. nil means both passed.
func (s *Server) attemptValidation(ctx context.Context, a *storage.Authorization, acct *storage.Account, ch *storage.Challenge) error {
	err := s.validator.Validate(ctx, validation.Request{
		ChallengeType:    string(ch.Type),
		IdentifierType:   string(a.Identifier.Type),
		Identifier:       a.Identifier.Value,
		Token:            ch.Token,
		KeyAuthorization: ch.Token + "." + acct.KeyThumbprint,
	})
	if err != nil {
		return err
	}
	return s.checkCAA(ctx, a, acct, ch)
}

// verdict is what one validation attempt decided.
type verdict struct {
	// status is valid or invalid, to be recorded; "" means the attempt is
	// to be retried after retry.
	status storage.Status
	retry  time.Duration
	// at is when the verdict was reached, the challenge's Validated time.
	at time.Time
	// problem and problemJSON say why the challenge is invalid.
	problem     *Problem
	problemJSON []byte
	// journal is the timeline event and the challenge.validate audit
	// entry, written with the outcome (FinishChallenge).
	journal *storage.Journal
}

// judge decides what the result verr of a validation attempt of challenge
// ch of a means, for the request and the job alike (RFC 8555 §7.5.1,
// §8.2): nil is valid; a transient failure (dns, connection) is retried
// after backoff(attempts) while that stays before deadline (the end of the
// retry window); anything else, or a transient failure past the window, is
// invalid with the problem of its kind. Every attempt judged is counted in
// the metrics, whether or not its outcome is the one recorded.
func (s *Server) judge(ctx context.Context, a *storage.Authorization, ch *storage.Challenge, verr error, attempts int, deadline time.Time) (*verdict, error) {
	now := s.clock.Now()
	what := string(ch.Type) + " for " + displayName(a) + " (account " + a.AccountID + ")"
	if verr == nil {
		s.metrics.validation(ch.Type, string(storage.StatusValid))
		return &verdict{status: storage.StatusValid, at: now, journal: s.journal(ctx,
			[]*storage.OrderEvent{{AuthzID: a.ID, At: now, Kind: EventValidated, Actor: actorSystem, Identifier: displayName(a), Detail: string(ch.Type)}},
			&storage.AuditEntry{At: now, Actor: actorSystem, Directory: a.Directory, Action: AuditChallengeValidate,
				Object: challengeRef(ch.ID), Detail: what})}, nil
	}
	var ve *validation.Error
	if !errors.As(verr, &ve) {
		ve = &validation.Error{Kind: validation.KindConnection, Detail: verr.Error()}
	}
	transient := ve.Kind == validation.KindDNS || ve.Kind == validation.KindConnection
	if wait := backoff(attempts); transient && now.Add(wait).Before(deadline) {
		s.metrics.validation(ch.Type, "retry")
		return &verdict{retry: wait, at: now}, nil
	}
	s.metrics.validation(ch.Type, string(storage.StatusInvalid))
	prob := validationProblem(ve).WithIdentifier(string(a.Identifier.Type), a.Identifier.Value)
	pj, err := json.Marshal(prob)
	if err != nil {
		return nil, fmt.Errorf("encode problem: %w", err)
	}
	return &verdict{status: storage.StatusInvalid, at: now, problem: prob, problemJSON: pj, journal: s.journal(ctx,
		[]*storage.OrderEvent{{AuthzID: a.ID, At: now, Kind: EventValidationFailed, Actor: actorSystem, Identifier: displayName(a),
			Detail: string(ch.Type) + ": " + prob.Detail}},
		&storage.AuditEntry{At: now, Actor: actorSystem, Directory: a.Directory, Action: AuditChallengeValidate,
			Object: challengeRef(ch.ID), Outcome: storage.OutcomeFailure, Detail: what + ": " + prob.Detail})}, nil
}

// settle records the definite verdict v on challenge ch of a with one
// FinishChallenge (the outcome, the authorization's, the deletion of the
// challenge's validate jobs and v's journal, in one transaction), then
// wakes the requests holding for it and tells metrics, notifications and
// the log. It reports false, having written nothing, when another attempt
// (a racing request, or the job) recorded an outcome first.
func (s *Server) settle(ctx context.Context, a *storage.Authorization, ch *storage.Challenge, v *verdict) (bool, error) {
	err := s.store.FinishChallenge(ctx, ch.ID, v.status, v.problemJSON, v.at, v.journal)
	if err != nil && !errors.Is(err, storage.ErrConflict) {
		return false, fmt.Errorf("record %s challenge: %w", v.status, err)
	}
	s.done.notify(ch.ID)
	if err != nil {
		return false, nil // the winner recorded, audited and notified
	}
	if v.status == storage.StatusValid {
		s.log.Info("challenge valid", slog.String("challenge", ch.ID), slog.String("type", string(ch.Type)), slog.String("identifier", a.Identifier.Value))
		return true, nil
	}
	// An invalid authorization makes every order relying on it invalid.
	// The authorization may serve several orders, so no order id is named.
	s.notify(ctx, notify.Event{Type: notify.OrderFailed, Directory: a.Directory, AccountID: a.AccountID,
		Names: []string{displayName(a)}, Detail: string(ch.Type) + " validation of " + displayName(a) + " failed: " + v.problem.Detail})
	s.log.Info("challenge invalid", slog.String("challenge", ch.ID), slog.String("type", string(ch.Type)), slog.String("identifier", a.Identifier.Value), slog.Any("problem", v.problem))
	return true, nil
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
