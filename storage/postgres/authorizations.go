package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const authzColumns = `id, directory, account_id, identifier_type, identifier_value, wildcard,
    status, expires, created_at, updated_at`

// authzWithChallenges selects an authorization (alias a) and one of its
// challenges (alias c) per row, NULLs when it has none.
const authzWithChallenges = `a.id, a.directory, a.account_id, a.identifier_type, a.identifier_value,
    a.wildcard, a.status, a.expires, a.created_at, a.updated_at,
    c.id, c.type, c.status, c.token, c.validated, c.error, c.updated_at`

const (
	sqlInsertAuthz = `INSERT INTO authorizations (` + authzColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	// One statement, so one snapshot, whatever the number of ids: the
	// authorizations by primary key, each joined to its challenges in
	// position order.
	sqlGetAuthzs = `SELECT ` + authzWithChallenges + `
FROM authorizations a LEFT JOIN challenges c ON c.authz_id = a.id
WHERE a.id = ANY ($1::text[])
ORDER BY a.id, c.position`
	// RFC 8555 §7.1.4 leaves reuse to the server; acmegate reuses only valid
	// authorizations that outlive the certificate's notBefore. The inner
	// query is a backward range scan of authorizations_reuse that stops at
	// the first row.
	sqlFindReusableAuthz = `SELECT ` + authzWithChallenges + `
FROM (SELECT * FROM authorizations
      WHERE account_id = $1 AND identifier_type = $2 AND identifier_value = $3 AND wildcard = $4
        AND status = 'valid' AND expires >= $5
      ORDER BY expires DESC LIMIT 1) a
LEFT JOIN challenges c ON c.authz_id = a.id
ORDER BY c.position`
	// RFC 8555 §7.5.2: pending and valid authorizations can be deactivated.
	sqlDeactivateAuthz = `WITH changed AS (
    UPDATE authorizations SET status = 'deactivated', updated_at = $2
    WHERE id = $1 AND status IN ('pending', 'valid')
    RETURNING 1)
SELECT EXISTS (SELECT 1 FROM authorizations WHERE id = $1), EXISTS (SELECT 1 FROM changed)`
)

// CreateAuthorization inserts a and its challenges in one implicit
// transaction and one round trip.
func (s *Store) CreateAuthorization(ctx context.Context, a *storage.Authorization) error {
	b := &pgx.Batch{}
	queueAuthz(b, a)
	if err := s.sendBatch(ctx, b); err != nil {
		return fmt.Errorf("postgres: create authorization %q: %w", a.ID, err)
	}
	return nil
}

// queueAuthz queues the inserts of a and its challenges, which take a's id
// as AuthzID and their slice position as their order.
func queueAuthz(b *pgx.Batch, a *storage.Authorization) {
	b.Queue(sqlInsertAuthz,
		a.ID, a.Directory, a.AccountID, string(a.Identifier.Type), a.Identifier.Value, a.Wildcard,
		string(a.Status), a.Expires, a.CreatedAt, a.UpdatedAt)
	for i, c := range a.Challenges {
		b.Queue(sqlInsertChallenge,
			c.ID, a.ID, i, string(c.Type), string(c.Status), c.Token, optTime(c.Validated),
			optBytes(c.Error), c.UpdatedAt, a.AccountID)
	}
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
// of ids, with their challenges: one query whatever the number of ids.
func (s *Store) GetAuthorizations(ctx context.Context, ids []string) ([]*storage.Authorization, error) {
	if len(ids) == 0 {
		return []*storage.Authorization{}, nil
	}
	byID, err := s.queryAuthzs(ctx, sqlGetAuthzs, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: get authorizations: %w", err)
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

// FindReusableAuthorization returns the valid authorization of accountID for
// id and wildcard that expires last, not before notBefore, or ErrNotFound.
func (s *Store) FindReusableAuthorization(ctx context.Context, accountID string, id storage.Identifier, wildcard bool, notBefore time.Time) (*storage.Authorization, error) {
	byID, err := s.queryAuthzs(ctx, sqlFindReusableAuthz,
		accountID, string(id.Type), id.Value, wildcard, notBefore)
	if err != nil {
		return nil, fmt.Errorf("postgres: find reusable authorization: %w", err)
	}
	for _, a := range byID {
		return a, nil
	}
	return nil, notFound("reusable authorization for", id.Value)
}

// DeactivateAuthorization moves a pending or valid authorization to
// deactivated; ErrConflict otherwise.
func (s *Store) DeactivateAuthorization(ctx context.Context, id string, now time.Time) error {
	return s.guarded(ctx, "deactivate authorization", "authorization", id, "is neither pending nor valid",
		sqlDeactivateAuthz, id, now)
}

// queryAuthzs runs a query selecting authzWithChallenges, rows of one
// authorization together and its challenges in position order, and returns
// the authorizations by id.
func (s *Store) queryAuthzs(ctx context.Context, sql string, args ...any) (map[string]*storage.Authorization, error) {
	byID := map[string]*storage.Authorization{}
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		var a storage.Authorization
		var idType, status string
		// The challenge columns are NULL when the authorization has none.
		var cID, cType, cStatus, cToken *string
		var c storage.Challenge
		err := rows.Scan(&a.ID, &a.Directory, &a.AccountID, &idType, &a.Identifier.Value,
			&a.Wildcard, &status, scanTime(&a.Expires), scanTime(&a.CreatedAt), scanTime(&a.UpdatedAt),
			&cID, &cType, &cStatus, &cToken, scanTime(&c.Validated), &c.Error, scanTime(&c.UpdatedAt))
		if err != nil {
			return err
		}
		got, ok := byID[a.ID]
		if !ok {
			a.Identifier.Type = storage.IdentifierType(idType)
			a.Status = storage.Status(status)
			a.Challenges = []storage.Challenge{}
			got = &a
			byID[a.ID] = got
		}
		if cID != nil {
			c.ID, c.AuthzID, c.Token = *cID, a.ID, *cToken
			c.Type, c.Status = storage.ChallengeType(*cType), storage.Status(*cStatus)
			got.Challenges = append(got.Challenges, c)
		}
		return nil
	}, sql, args...)
	if err != nil {
		return nil, err
	}
	return byID, nil
}
