package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const jobColumns = `id, kind, ref, run_at, attempts, lease_owner, lease_until, deadline, last_error, created_at`

const (
	// SKIP LOCKED makes concurrent workers, in any instance, pass over the
	// jobs another worker is leasing instead of queueing behind its row
	// locks, so no two receive the same job and none waits. The CTE is
	// MATERIALIZED so the locking SELECT runs exactly once: were it
	// re-executed for each outer row (a join plan may rescan an inner
	// subquery), SKIP LOCKED would hand back other rows each time and the
	// UPDATE could take more than n jobs.
	sqlLeaseJobs = `WITH picked AS MATERIALIZED (
    SELECT id FROM jobs
    WHERE run_at <= $3 AND (lease_owner = '' OR lease_until <= $3)
    ORDER BY run_at, id
    LIMIT $4
    FOR UPDATE SKIP LOCKED)
UPDATE jobs SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
WHERE id IN (SELECT id FROM picked)
RETURNING ` + jobColumns
	sqlCompleteJob = `DELETE FROM jobs WHERE id = $1 AND lease_owner = $2`
	sqlRetryJob    = `UPDATE jobs SET lease_owner = '', lease_until = NULL, run_at = $2, last_error = $3
WHERE id = $1 AND lease_owner = $4`
	// The redundant lease_owner <> '' lets the planner use the partial
	// index jobs_lease_owner in a generic plan too, where it cannot know
	// that $1 is not ''.
	sqlReleaseJobs = `UPDATE jobs SET lease_owner = '', lease_until = NULL
WHERE lease_owner = $1 AND lease_owner <> ''`
	sqlRenewLease = `UPDATE jobs SET lease_until = $3 WHERE id = $1 AND lease_owner = $2`
)

// jobArgs are the values of jobColumns for j, in order.
func jobArgs(j *storage.Job) []any {
	return []any{j.ID, string(j.Kind), j.Ref, j.RunAt, j.Attempts, j.LeaseOwner, optTime(j.LeaseUntil),
		j.Deadline, j.LastError, j.CreatedAt}
}

// errNoOwner refuses a lease operation without an owner: a free job has
// lease_owner ”, so the empty owner would match every free job.
var errNoOwner = errors.New("postgres: empty job lease owner")

// LeaseJobs leases to owner up to n due jobs whose lease is free or expired,
// oldest run_at first.
func (s *Store) LeaseJobs(ctx context.Context, owner string, n int, now time.Time, lease time.Duration) ([]*storage.Job, error) {
	if n <= 0 {
		return nil, nil
	}
	if owner == "" {
		return nil, errNoOwner
	}
	var jobs []*storage.Job
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		j, err := scanJob(rows)
		if err != nil {
			return err
		}
		jobs = append(jobs, j)
		return nil
	}, sqlLeaseJobs, owner, now.Add(lease), now, n)
	if err != nil {
		return nil, fmt.Errorf("postgres: lease jobs: %w", err)
	}
	// RETURNING yields rows in no promised order.
	slices.SortFunc(jobs, func(a, b *storage.Job) int {
		if c := a.RunAt.Compare(b.RunAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return jobs, nil
}

// CompleteJob deletes a job owner holds; ErrConflict if it holds it no
// longer (another worker took the expired lease, or the job is gone).
func (s *Store) CompleteJob(ctx context.Context, id, owner string) error {
	return s.leased(ctx, "complete job", id, owner, sqlCompleteJob, id, owner)
}

// RetryJob frees a job owner holds and schedules it at runAt; ErrConflict
// if owner no longer holds it.
func (s *Store) RetryJob(ctx context.Context, id, owner string, runAt time.Time, lastError string) error {
	return s.leased(ctx, "retry job", id, owner, sqlRetryJob, id, runAt, lastError, owner)
}

// RenewJobLease extends a lease owner holds until until; ErrConflict if
// owner no longer holds it.
func (s *Store) RenewJobLease(ctx context.Context, id, owner string, until time.Time) error {
	return s.leased(ctx, "renew lease of job", id, owner, sqlRenewLease, id, owner, until)
}

// leased runs a statement on the job id that owner must hold: ErrConflict
// when it changed no row.
func (s *Store) leased(ctx context.Context, what, id, owner, sql string, args ...any) error {
	if owner == "" {
		return conflict("job", id, "cannot be held by the empty owner")
	}
	tag, err := s.exec(ctx, sql, args...)
	if err != nil {
		return fmt.Errorf("postgres: %s %q: %w", what, id, err)
	}
	if tag.RowsAffected() == 0 {
		return conflict("job", id, "is not leased to "+owner)
	}
	return nil
}

// ReleaseJobs frees every lease owner holds.
func (s *Store) ReleaseJobs(ctx context.Context, owner string) error {
	if owner == "" {
		return errNoOwner
	}
	if _, err := s.exec(ctx, sqlReleaseJobs, owner); err != nil {
		return fmt.Errorf("postgres: release jobs of %q: %w", owner, err)
	}
	return nil
}

func scanJob(r scanner) (*storage.Job, error) {
	var j storage.Job
	var kind string
	err := r.Scan(&j.ID, &kind, &j.Ref, scanTime(&j.RunAt), &j.Attempts, &j.LeaseOwner, scanTime(&j.LeaseUntil),
		scanTime(&j.Deadline), &j.LastError, scanTime(&j.CreatedAt))
	if err != nil {
		return nil, err
	}
	j.Kind = storage.JobKind(kind)
	return &j, nil
}
