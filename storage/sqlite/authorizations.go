package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

const authzColumns = `id, directory, account_id, identifier_type, identifier_value, wildcard,
    status, expires, created_at, updated_at`

const (
	sqlInsertAuthz = `INSERT INTO authorizations (` + authzColumns + `)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	// json_each keeps the statement text fixed whatever the number of ids,
	// so it is prepared once; SQLite probes the primary key for each id.
	sqlGetAuthzs = `SELECT ` + authzColumns + ` FROM authorizations
WHERE id IN (SELECT value FROM json_each(?))`
	// One authorization (the usual order has one name) with its
	// challenges in one statement, so in one snapshot without an explicit
	// transaction; an authorization without challenges (pre-validated)
	// yields one row of empty challenge columns.
	sqlGetAuthzWithChallenges = `SELECT a.id, a.directory, a.account_id, a.identifier_type, a.identifier_value,
    a.wildcard, a.status, a.expires, a.created_at, a.updated_at,
    coalesce(c.id, ''), coalesce(c.type, ''), coalesce(c.status, ''), coalesce(c.token, ''),
    coalesce(c.validated, '` + zeroTime + `'), c.error, coalesce(c.updated_at, '` + zeroTime + `')
FROM authorizations a LEFT JOIN challenges c ON c.authz_id = a.id
WHERE a.id = ?
ORDER BY c.position`
	// RFC 8555 §7.1.4 leaves reuse to the server; acmegate reuses only valid
	// authorizations that outlive the certificate's notBefore.
	sqlFindReusableAuthz = `SELECT ` + authzColumns + ` FROM authorizations
WHERE account_id = ? AND identifier_type = ? AND identifier_value = ? AND wildcard = ?
  AND status = 'valid' AND expires >= ?
ORDER BY expires DESC LIMIT 1`
	// RFC 8555 §7.5.2: pending and valid authorizations can be deactivated.
	sqlDeactivateAuthz = `UPDATE authorizations SET status = 'deactivated', updated_at = ?
WHERE id = ? AND status IN ('pending', 'valid')`
	sqlAuthzExists = `SELECT 1 FROM authorizations WHERE id = ?`
)

// CreateAuthorization inserts a and its challenges in one transaction.
func (s *Store) CreateAuthorization(ctx context.Context, a *storage.Authorization) error {
	return s.inWrite(ctx, func(q queryer) error {
		if err := insertAuthz(ctx, q, a); err != nil {
			return fmt.Errorf("sqlite: create authorization: %w", err)
		}
		return nil
	})
}

// insertAuthz inserts a and its challenges, which take a's id as AuthzID
// and their slice position as their order.
func insertAuthz(ctx context.Context, q queryer, a *storage.Authorization) error {
	_, err := q.exec(ctx, sqlInsertAuthz,
		a.ID, a.Directory, a.AccountID, string(a.Identifier.Type), a.Identifier.Value, a.Wildcard,
		string(a.Status), tval(a.Expires), tval(a.CreatedAt), tval(a.UpdatedAt))
	if err != nil {
		return fmt.Errorf("authorization %q: %w", a.ID, err)
	}
	for i, c := range a.Challenges {
		_, err := q.exec(ctx, sqlInsertChallenge,
			c.ID, a.ID, i, string(c.Type), string(c.Status), c.Token, tval(c.Validated), c.Error, tval(c.UpdatedAt),
			a.AccountID)
		if err != nil {
			return fmt.Errorf("challenge %q: %w", c.ID, err)
		}
	}
	return nil
}

// GetAuthorization returns the authorization with its challenges, or
// ErrNotFound.
func (s *Store) GetAuthorization(ctx context.Context, id string) (*storage.Authorization, error) {
	as, err := s.GetAuthorizations(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	return as[0], nil
}

// GetAuthorizations returns the authorizations with those ids, in the order
// of ids, with their challenges: two queries in one read snapshot whatever
// the number of ids.
func (s *Store) GetAuthorizations(ctx context.Context, ids []string) ([]*storage.Authorization, error) {
	if len(ids) == 0 {
		return []*storage.Authorization{}, nil
	}
	if len(ids) == 1 {
		a, err := s.getAuthorization(ctx, ids[0])
		if err != nil {
			return nil, err
		}
		return []*storage.Authorization{a}, nil
	}
	byID := make(map[string]*storage.Authorization, len(ids))
	err := s.inRead(ctx, func(q queryer) error {
		rows, err := q.query(ctx, sqlGetAuthzs, jval(ids))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			a, err := scanAuthz(rows)
			if err != nil {
				return err
			}
			byID[a.ID] = a
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return loadChallenges(ctx, q, byID)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: get authorizations: %w", err)
	}
	out := make([]*storage.Authorization, 0, len(ids))
	for _, id := range ids {
		a, ok := byID[id]
		if !ok {
			return nil, notFound("authorization", id)
		}
		out = append(out, a)
	}
	return out, nil
}

// getAuthorization reads one authorization and its challenges.
func (s *Store) getAuthorization(ctx context.Context, id string) (*storage.Authorization, error) {
	rows, err := s.reader().query(ctx, sqlGetAuthzWithChallenges, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: get authorization %q: %w", id, err)
	}
	defer rows.Close()
	var a *storage.Authorization
	for rows.Next() {
		var (
			b          storage.Authorization
			idType, st string
			c          storage.Challenge
			ctyp, cst  string
		)
		err := rows.Scan(&b.ID, &b.Directory, &b.AccountID, &idType, &b.Identifier.Value, &b.Wildcard,
			&st, tscan(&b.Expires), tscan(&b.CreatedAt), tscan(&b.UpdatedAt),
			&c.ID, &ctyp, &cst, &c.Token, tscan(&c.Validated), &c.Error, tscan(&c.UpdatedAt))
		if err != nil {
			return nil, fmt.Errorf("sqlite: get authorization %q: %w", id, classify(err))
		}
		if a == nil {
			b.Identifier.Type = storage.IdentifierType(idType)
			b.Status = storage.Status(st)
			b.Challenges = []storage.Challenge{}
			a = &b
		}
		if c.ID != "" {
			c.AuthzID, c.Type, c.Status = a.ID, storage.ChallengeType(ctyp), storage.Status(cst)
			a.Challenges = append(a.Challenges, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: get authorization %q: %w", id, classify(err))
	}
	if a == nil {
		return nil, notFound("authorization", id)
	}
	return a, nil
}

// FindReusableAuthorization returns the valid authorization of accountID for
// id and wildcard that expires last, not before notBefore, or ErrNotFound.
func (s *Store) FindReusableAuthorization(ctx context.Context, accountID string, id storage.Identifier, wildcard bool, notBefore time.Time) (*storage.Authorization, error) {
	var found *storage.Authorization
	err := s.inRead(ctx, func(q queryer) error {
		a, err := scanAuthz(q.queryRow(ctx, sqlFindReusableAuthz,
			accountID, string(id.Type), id.Value, wildcard, tval(notBefore)))
		if err != nil {
			return err
		}
		found = a
		return loadChallenges(ctx, q, map[string]*storage.Authorization{a.ID: a})
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("reusable authorization for", id.Value)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: find reusable authorization: %w", err)
	}
	return found, nil
}

// DeactivateAuthorization moves a pending or valid authorization to
// deactivated; ErrConflict otherwise.
func (s *Store) DeactivateAuthorization(ctx context.Context, id string, now time.Time) error {
	return s.inWrite(ctx, func(q queryer) error {
		n, err := q.execAffected(ctx, sqlDeactivateAuthz, tval(now), id)
		if err != nil {
			return fmt.Errorf("sqlite: deactivate authorization %q: %w", id, err)
		}
		if n == 0 {
			return missingOrConflict(ctx, q, sqlAuthzExists, "authorization", id, "is neither pending nor valid")
		}
		return nil
	})
}

func scanAuthz(r scanner) (*storage.Authorization, error) {
	var a storage.Authorization
	var idType, status string
	err := r.Scan(&a.ID, &a.Directory, &a.AccountID, &idType, &a.Identifier.Value, &a.Wildcard,
		&status, tscan(&a.Expires), tscan(&a.CreatedAt), tscan(&a.UpdatedAt))
	if err != nil {
		return nil, err
	}
	a.Identifier.Type = storage.IdentifierType(idType)
	a.Status = storage.Status(status)
	a.Challenges = []storage.Challenge{}
	return &a, nil
}
