package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

const challengeColumns = `id, authz_id, type, status, token, validated, error, updated_at`

const (
	// account_id copies the authorization's, for CountFailedValidations.
	sqlInsertChallenge = `INSERT INTO challenges
    (id, authz_id, position, type, status, token, validated, error, updated_at, account_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlGetChallengesOf = `SELECT ` + challengeColumns + ` FROM challenges
WHERE authz_id IN (SELECT value FROM json_each(?))
ORDER BY authz_id, position`
	sqlGetChallenge = `SELECT ` + challengeColumns + ` FROM challenges WHERE id = ?`
	// RFC 8555 §7.5.1: a challenge is attempted once; only a pending
	// challenge of a pending authorization may start.
	sqlStartChallenge = `UPDATE challenges SET status = 'processing', updated_at = ?
WHERE id = ? AND status = 'pending'
  AND EXISTS (SELECT 1 FROM authorizations a WHERE a.id = challenges.authz_id AND a.status = 'pending')`
	// A challenge is finished once: from pending when the protocol validates
	// within the client's request, from processing when a job does. Only
	// the challenge of a pending authorization finishes; with a single
	// writer, nothing changes the authorization between this check and
	// sqlFollowChallenge.
	sqlFinishChallenge = `UPDATE challenges SET status = ?, error = ?, validated = ?, updated_at = ?
WHERE id = ? AND status IN ('pending', 'processing')
  AND EXISTS (SELECT 1 FROM authorizations a WHERE a.id = challenges.authz_id AND a.status = 'pending')
RETURNING authz_id`
	// RFC 8555 §7.1.6: the authorization follows its challenge.
	// sqlFinishChallenge checked it is pending; the condition says so again
	// so that the statement is right on its own.
	sqlFollowChallenge = `UPDATE authorizations SET status = ?, updated_at = ?
WHERE id = ? AND status = 'pending'`
	sqlChallengeExists     = `SELECT 1 FROM challenges WHERE id = ?`
	sqlDeleteChallengeJobs = `DELETE FROM jobs WHERE kind = ? AND ref = ?`
)

// loadChallenges fills the Challenges of the authorizations in byID with
// one query.
func loadChallenges(ctx context.Context, q queryer, byID map[string]*storage.Authorization) error {
	if len(byID) == 0 {
		return nil
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	rows, err := q.query(ctx, sqlGetChallengesOf, jval(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		c, err := scanChallenge(rows)
		if err != nil {
			return err
		}
		if a := byID[c.AuthzID]; a != nil {
			a.Challenges = append(a.Challenges, *c)
		}
	}
	return rows.Err()
}

// GetChallenge returns a challenge or ErrNotFound.
func (s *Store) GetChallenge(ctx context.Context, id string) (*storage.Challenge, error) {
	c, err := scanChallenge(s.reader().queryRow(ctx, sqlGetChallenge, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("challenge", id)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: get challenge %q: %w", id, err)
	}
	return c, nil
}

// StartChallenge moves a pending challenge of a pending authorization to
// processing and inserts its validation job, in one transaction.
func (s *Store) StartChallenge(ctx context.Context, challengeID string, job *storage.Job, now time.Time) error {
	if job == nil {
		return fmt.Errorf("sqlite: start challenge %q: nil job", challengeID)
	}
	return s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlStartChallenge, tval(now), challengeID)
		if err != nil {
			return fmt.Errorf("sqlite: start challenge %q: %w", challengeID, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlChallengeExists, "challenge", challengeID,
				"or its authorization is not pending")
		}
		if err := insertJob(ctx, q, job); err != nil {
			return fmt.Errorf("sqlite: start challenge %q: %w", challengeID, err)
		}
		return nil
	})
}

// FinishChallenge moves a pending or processing challenge of a pending
// authorization to status (valid or invalid) with problem, and the
// authorization with it, and drops the challenge's validate jobs.
func (s *Store) FinishChallenge(ctx context.Context, challengeID string, status storage.Status, problem []byte, now time.Time, j *storage.Journal) error {
	if status != storage.StatusValid && status != storage.StatusInvalid {
		return fmt.Errorf("sqlite: finish challenge %q: status %q is neither valid nor invalid", challengeID, status)
	}
	var validated time.Time
	if status == storage.StatusValid {
		validated = now
	}
	return s.transition(ctx, "finish challenge", challengeID, j, func(q queryer) error {
		var authzID string
		err := q.queryRow(ctx, sqlFinishChallenge,
			string(status), problem, tval(validated), tval(now), challengeID).Scan(&authzID)
		if errors.Is(err, sql.ErrNoRows) {
			return missingOrConflict(ctx, q, sqlChallengeExists, "challenge", challengeID,
				"is neither pending nor processing or its authorization is not pending")
		}
		if err != nil {
			return fmt.Errorf("sqlite: finish challenge %q: %w", challengeID, err)
		}
		if _, err := q.exec(ctx, sqlFollowChallenge, string(status), tval(now), authzID); err != nil {
			return fmt.Errorf("sqlite: finish challenge %q: authorization: %w", challengeID, err)
		}
		if _, err := q.exec(ctx, sqlDeleteChallengeJobs, string(storage.JobValidate), challengeID); err != nil {
			return fmt.Errorf("sqlite: finish challenge %q: delete jobs: %w", challengeID, err)
		}
		return nil
	})
}

func scanChallenge(r scanner) (*storage.Challenge, error) {
	var c storage.Challenge
	var typ, status string
	err := r.Scan(&c.ID, &c.AuthzID, &typ, &status, &c.Token, tscan(&c.Validated), &c.Error, tscan(&c.UpdatedAt))
	if err != nil {
		return nil, err
	}
	c.Type = storage.ChallengeType(typ)
	c.Status = storage.Status(status)
	return &c, nil
}
