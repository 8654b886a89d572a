package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/acmegate/acmegate/storage"
)

const jobColumns = `id, kind, ref, run_at, attempts, lease_owner, lease_until, deadline, last_error, created_at`

const (
	sqlInsertJob = `INSERT INTO jobs (` + jobColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// One statement picks and leases the jobs, and it runs in a BEGIN
	// IMMEDIATE transaction on the single write connection: no other writer
	// can lease between the pick and the update, which is what SELECT … FOR
	// UPDATE SKIP LOCKED gives PostgreSQL.
	sqlLeaseJobs = `UPDATE jobs SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM jobs
    WHERE run_at <= ? AND (lease_owner = '' OR lease_until <= ?)
    ORDER BY run_at, id
    LIMIT ?)
RETURNING ` + jobColumns
	// sqlJobDue asks the read pool whether LeaseJobs has anything to do.
	sqlJobDue = `SELECT 1 FROM jobs
WHERE run_at <= ? AND (lease_owner = '' OR lease_until <= ?)
LIMIT 1`
	sqlCompleteJob = `DELETE FROM jobs WHERE id = ? AND lease_owner = ?`
	sqlRetryJob    = `UPDATE jobs SET lease_owner = '', lease_until = ?, run_at = ?, last_error = ?
WHERE id = ? AND lease_owner = ?`
	sqlReleaseJobs = `UPDATE jobs SET lease_owner = '', lease_until = ? WHERE lease_owner = ?`
	sqlRenewLease  = `UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ?`
)

// insertJob inserts j as part of a caller's transaction.
func insertJob(ctx context.Context, q queryer, j *storage.Job) error {
	_, err := q.exec(ctx, sqlInsertJob,
		j.ID, string(j.Kind), j.Ref, tval(j.RunAt), j.Attempts, j.LeaseOwner, tval(j.LeaseUntil),
		tval(j.Deadline), j.LastError, tval(j.CreatedAt))
	if err != nil {
		return fmt.Errorf("job %q: %w", j.ID, err)
	}
	return nil
}

// LeaseJobs leases to owner up to n due jobs whose lease is free or expired,
// oldest run_at first.
func (s *Store) LeaseJobs(ctx context.Context, owner string, n int, now time.Time, lease time.Duration) ([]*storage.Job, error) {
	if n <= 0 {
		return nil, nil
	}
	// Every instance polls several times a second and after every nudge,
	// mostly finding nothing: a read that finds nothing spares the write
	// transaction (and the write connection the requests queue for). A
	// job that becomes due just after the read is leased at the next poll,
	// as it would be had it come just after the write.
	var due int
	switch err := s.reader().queryRow(ctx, sqlJobDue, tval(now), tval(now)).Scan(&due); {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("sqlite: lease jobs: %w", err)
	}
	var jobs []*storage.Job
	err := s.inWrite(ctx, func(q queryer) error {
		rows, err := q.query(ctx, sqlLeaseJobs, owner, tval(now.Add(lease)), tval(now), tval(now), n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: lease jobs: %w", err)
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
	n, err := s.writer().execAffected(ctx, sqlCompleteJob, id, owner)
	if err != nil {
		return fmt.Errorf("sqlite: complete job %q: %w", id, err)
	}
	if n == 0 {
		return conflict("job", id, "is not leased to "+owner)
	}
	return nil
}

// RetryJob frees a job owner holds and schedules it at runAt; ErrConflict
// if owner no longer holds it.
func (s *Store) RetryJob(ctx context.Context, id, owner string, runAt time.Time, lastError string) error {
	n, err := s.writer().execAffected(ctx, sqlRetryJob, tval(time.Time{}), tval(runAt), lastError, id, owner)
	if err != nil {
		return fmt.Errorf("sqlite: retry job %q: %w", id, err)
	}
	if n == 0 {
		return conflict("job", id, "is not leased to "+owner)
	}
	return nil
}

// RenewJobLease extends a lease owner holds until until; ErrConflict if
// owner no longer holds it.
func (s *Store) RenewJobLease(ctx context.Context, id, owner string, until time.Time) error {
	n, err := s.writer().execAffected(ctx, sqlRenewLease, tval(until), id, owner)
	if err != nil {
		return fmt.Errorf("sqlite: renew lease of job %q: %w", id, err)
	}
	if n == 0 {
		return conflict("job", id, "is not leased to "+owner)
	}
	return nil
}

// ReleaseJobs frees every lease owner holds.
func (s *Store) ReleaseJobs(ctx context.Context, owner string) error {
	if _, err := s.writer().exec(ctx, sqlReleaseJobs, tval(time.Time{}), owner); err != nil {
		return fmt.Errorf("sqlite: release jobs of %q: %w", owner, err)
	}
	return nil
}

func scanJob(r scanner) (*storage.Job, error) {
	var j storage.Job
	var kind string
	err := r.Scan(&j.ID, &kind, &j.Ref, tscan(&j.RunAt), &j.Attempts, &j.LeaseOwner, tscan(&j.LeaseUntil),
		tscan(&j.Deadline), &j.LastError, tscan(&j.CreatedAt))
	if err != nil {
		return nil, err
	}
	j.Kind = storage.JobKind(kind)
	return &j, nil
}
