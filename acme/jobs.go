package acme

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// Background work (validations and issuances) is persisted as jobs and
// leased, never owned (DESIGN.md §7): a process that dies mid-job leaves a
// lease that expires, and any instance picks the job up again.
const (
	jobPollInterval = 250 * time.Millisecond
	// shutdownGrace bounds how long Run waits for in-flight jobs.
	shutdownGrace = 15 * time.Second
	// sweepInterval is how often spent nonce records are purged.
	sweepInterval = time.Minute
)

// errRetryLater asks the runner to run a job again after a delay.
type errRetryLater struct {
	after time.Duration
	cause error
}

func (e *errRetryLater) Error() string {
	return fmt.Sprintf("retry in %s: %v", e.after, e.cause)
}

func (e *errRetryLater) Unwrap() error { return e.cause }

// errJobRemoved tells the runner that the job recorded its outcome with a
// transition that also deleted the job (FinishChallenge deletes the
// challenge's validate jobs), so completing it would be a write for
// nothing.
var errJobRemoved = errors.New("the job was deleted with the outcome it recorded")

// Run executes background jobs and appends the buffered timeline events
// until ctx is cancelled. It then stops taking jobs, lets in-flight ones
// finish (bounded), releases its leases and appends the events still
// buffered: cancel ctx once the HTTP server has stopped serving, so that
// none comes after.
func (s *Server) Run(ctx context.Context) error {
	// The account cache works while its feed runs, as long as Run does.
	defer s.startAccountFeed(ctx)()
	// Jobs get their own context so that cancelling ctx (shutdown) does
	// not abort work half-way; it is cancelled after the grace period.
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	batched := make(chan struct{})
	go func() {
		defer close(batched)
		s.events.run(ctx)
	}()
	defer func() {
		<-batched
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		s.events.flushLogged(fctx)
	}()
	slots := make(chan struct{}, s.cfg.Workers)
	var wg sync.WaitGroup
	ticker := time.NewTicker(jobPollInterval)
	defer ticker.Stop()
	lastSweep := time.Time{}
	for {
		if now := s.clock.Now(); now.Sub(lastSweep) >= sweepInterval {
			lastSweep = now
			s.sweep(ctx, now)
		}
		if free := cap(slots) - len(slots); free > 0 {
			jobs, err := s.store.LeaseJobs(ctx, s.cfg.InstanceID, free, s.clock.Now(), s.cfg.JobLease)
			if err != nil && ctx.Err() == nil {
				s.log.Error("lease jobs", slog.Any("error", err))
			}
			for _, j := range jobs {
				slots <- struct{}{}
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.runJob(jobCtx, j)
					<-slots
				}()
			}
			if len(jobs) == free {
				// There may be more waiting: look again at once.
				continue
			}
		}
		select {
		case <-ctx.Done():
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(shutdownGrace):
				cancelJobs()
				<-done
			}
			relCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := s.store.ReleaseJobs(relCtx, s.cfg.InstanceID); err != nil {
				return fmt.Errorf("release job leases: %w", err)
			}
			return nil
		case <-ticker.C:
		case <-s.wake:
		}
	}
}

func (s *Server) runJob(ctx context.Context, j *storage.Job) {
	// Heartbeat: renew the lease while the job runs, so a short lease
	// (quick takeover when an instance dies) never expires under a live
	// worker and no job runs twice at once.
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		s.heartbeat(hbCtx, j)
	}()
	// A job never runs unbounded: a hung upstream would otherwise keep its
	// lease alive forever through the heartbeat.
	execCtx, cancelExec := context.WithTimeout(ctx, s.cfg.JobTimeout)
	err := s.execJob(execCtx, j)
	cancelExec()
	stopHeartbeat()
	<-hbDone
	s.settleJob(ctx, j, err)
}

func (s *Server) heartbeat(ctx context.Context, j *storage.Job) {
	t := time.NewTicker(s.cfg.JobLease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := s.store.RenewJobLease(ctx, j.ID, s.cfg.InstanceID, s.clock.Now().Add(s.cfg.JobLease))
			if err != nil && ctx.Err() == nil {
				s.log.Warn("renew job lease", slog.String("job", j.ID), slog.Any("error", err))
			}
		}
	}
}

func (s *Server) execJob(ctx context.Context, j *storage.Job) error {
	var err error
	switch j.Kind {
	case storage.JobValidate:
		err = s.runValidation(ctx, j)
	case storage.JobIssue:
		err = s.runIssuance(ctx, j)
	case storage.JobRevoke:
		err = s.runRevocation(ctx, j)
	default:
		h, ok := s.cfg.JobHandlers[j.Kind]
		if !ok {
			return fmt.Errorf("unknown job kind %q", j.Kind)
		}
		err = h(ctx, j)
	}
	return err
}

// settleJob records what became of a job: done, or due again later.
func (s *Server) settleJob(ctx context.Context, j *storage.Job, err error) {
	owner := s.cfg.InstanceID
	var retry *errRetryLater
	// A job handler from another package (JobHandlers) names its own
	// retry delay through this method, as notify.RetryError does.
	var asked interface{ RetryAfter() time.Duration }
	switch {
	case errors.Is(err, errJobRemoved):
		// The job's own transition deleted it: nothing left to settle.
	case err == nil:
		if cerr := s.store.CompleteJob(ctx, j.ID, owner); cerr != nil && !errors.Is(cerr, storage.ErrConflict) {
			s.log.Error("complete job", slog.String("job", j.ID), slog.Any("error", cerr))
		}
	case errors.As(err, &retry):
		if rerr := s.store.RetryJob(ctx, j.ID, owner, s.clock.Now().Add(retry.after), err.Error()); rerr != nil && !errors.Is(rerr, storage.ErrConflict) {
			s.log.Error("reschedule job", slog.String("job", j.ID), slog.Any("error", rerr))
		}
	case errors.As(err, &asked):
		s.log.Debug("job will be retried", slog.String("job", j.ID), slog.String("kind", string(j.Kind)), slog.Any("error", err))
		if rerr := s.store.RetryJob(ctx, j.ID, owner, s.clock.Now().Add(asked.RetryAfter()), err.Error()); rerr != nil && !errors.Is(rerr, storage.ErrConflict) {
			s.log.Error("reschedule job", slog.String("job", j.ID), slog.Any("error", rerr))
		}
	default:
		// An unexpected fault (storage down): try again with backoff; the
		// job's own deadline turns a persistent failure into a final state.
		s.log.Error("job failed", slog.String("job", j.ID), slog.String("kind", string(j.Kind)), slog.Any("error", err))
		if rerr := s.store.RetryJob(ctx, j.ID, owner, s.clock.Now().Add(backoff(j.Attempts)), err.Error()); rerr != nil && !errors.Is(rerr, storage.ErrConflict) {
			s.log.Error("reschedule job", slog.String("job", j.ID), slog.Any("error", rerr))
		}
	}
}

// backoff is the delay before attempt n+1: 1s, 2s, 4s … capped at 5 min.
func backoff(attempts int) time.Duration {
	d := time.Second
	for i := 1; i < attempts && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// sweep lets pending approvals lapse, deletes redemption records of nonces
// that have expired anyway, then runs the configured sweeps. It is safe to
// run on every instance at once.
func (s *Server) sweep(ctx context.Context, now time.Time) {
	s.expireApprovals(ctx, now)
	n, err := s.store.PurgeNonces(ctx, now)
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error("purge nonces", slog.Any("error", err))
	case n > 0:
		s.log.Debug("purged nonces", slog.Int64("count", n))
	}
	for _, sw := range s.cfg.Sweeps {
		if ctx.Err() != nil {
			return
		}
		sw(ctx, now)
	}
}
