package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const challengeColumns = `id, authz_id, type, status, token, validated, error, updated_at`

const (
	// account_id copies the authorization's, for CountFailedValidations.
	sqlInsertChallenge = `INSERT INTO challenges
    (id, authz_id, position, type, status, token, validated, error, updated_at, account_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	sqlGetChallenge = `SELECT ` + challengeColumns + ` FROM challenges WHERE id = $1`
	// RFC 8555 §7.5.1: a challenge is attempted once; only a pending
	// challenge of a pending authorization may start. The validation job is
	// inserted only if the challenge moved.
	sqlStartChallenge = `WITH started AS (
    UPDATE challenges SET status = 'processing', updated_at = $2
    WHERE id = $1 AND status = 'pending'
      AND EXISTS (SELECT 1 FROM authorizations a WHERE a.id = challenges.authz_id AND a.status = 'pending')
    RETURNING id),
queued AS (
    INSERT INTO jobs (` + jobColumns + `)
    SELECT $3::text, $4::text, $5::text, $6::timestamptz, $7::integer, $8::text,
           $9::timestamptz, $10::timestamptz, $11::text, $12::timestamptz
    FROM started)
SELECT EXISTS (SELECT 1 FROM challenges WHERE id = $1), EXISTS (SELECT 1 FROM started)`
	// RFC 8555 §7.1.6: the authorization follows its challenge. A challenge
	// finishes from pending (validated within the client's request) or
	// processing (by a job), and only while its authorization is pending:
	// locking the authorization first serializes this with a concurrent
	// finish of another of its challenges or its deactivation (the second
	// re-reads the authorization once the first commits, finds it no longer
	// pending and changes nothing). The challenge's validate jobs go with it.
	sqlFinishChallenge = `WITH authz AS (
    SELECT a.id FROM authorizations a
    WHERE a.id = (SELECT c.authz_id FROM challenges c WHERE c.id = $1) AND a.status = 'pending'
    FOR UPDATE),
finished AS (
    UPDATE challenges SET status = $2, error = $3, validated = $4, updated_at = $5
    WHERE id = $1 AND status IN ('pending', 'processing') AND authz_id IN (SELECT id FROM authz)
    RETURNING id, authz_id),
followed AS (
    UPDATE authorizations a SET status = $2, updated_at = $5
    FROM finished f
    WHERE a.id = f.authz_id),
dropped AS (
    DELETE FROM jobs WHERE kind = $6 AND ref IN (SELECT id FROM finished))
SELECT EXISTS (SELECT 1 FROM challenges WHERE id = $1), EXISTS (SELECT 1 FROM finished)`
)

// GetChallenge returns a challenge or ErrNotFound.
func (s *Store) GetChallenge(ctx context.Context, id string) (*storage.Challenge, error) {
	var c storage.Challenge
	var typ, status string
	err := s.queryRow(ctx, sqlGetChallenge, id).Scan(&c.ID, &c.AuthzID, &typ, &status, &c.Token,
		scanTime(&c.Validated), &c.Error, scanTime(&c.UpdatedAt))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("challenge", id)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: get challenge %q: %w", id, err)
	}
	c.Type = storage.ChallengeType(typ)
	c.Status = storage.Status(status)
	return &c, nil
}

// StartChallenge moves a pending challenge of a pending authorization to
// processing and inserts its validation job, in one statement.
func (s *Store) StartChallenge(ctx context.Context, challengeID string, job *storage.Job, now time.Time) error {
	if job == nil {
		return fmt.Errorf("postgres: start challenge %q: nil job", challengeID)
	}
	args := append([]any{challengeID, now}, jobArgs(job)...)
	return s.guarded(ctx, "start challenge", "challenge", challengeID, "or its authorization is not pending",
		sqlStartChallenge, args...)
}

// FinishChallenge moves a pending or processing challenge of a pending
// authorization to status (valid or invalid) with problem, and the
// authorization with it, and drops the challenge's validate jobs.
func (s *Store) FinishChallenge(ctx context.Context, challengeID string, status storage.Status, problem []byte, now time.Time, j *storage.Journal) error {
	if status != storage.StatusValid && status != storage.StatusInvalid {
		return fmt.Errorf("postgres: finish challenge %q: status %q is neither valid nor invalid", challengeID, status)
	}
	var validated time.Time
	if status == storage.StatusValid {
		validated = now
	}
	return s.guardedJournal(ctx, j, "finish challenge", "challenge", challengeID,
		"is neither pending nor processing or its authorization is not pending",
		sqlFinishChallenge, challengeID, string(status), optBytes(problem), optTime(validated), now,
		string(storage.JobValidate))
}
