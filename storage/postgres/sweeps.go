package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// One statement decides a claim: the insert of a sweep that never ran, or
// the update of one whose last run is at or before $3 (now - period),
// returns a row; a sweep that ran more recently fails the upsert's WHERE
// and returns none. INSERT … ON CONFLICT DO UPDATE is atomic across
// sessions: a concurrent claimer waits for the first one's row (or its
// speculative insert), then evaluates the WHERE on the row as the first
// left it, so of any number of instances claiming at once one wins.
const sqlClaimSweep = `INSERT INTO sweeps AS s (name, last_run) VALUES ($1, $2)
ON CONFLICT (name) DO UPDATE SET last_run = EXCLUDED.last_run WHERE s.last_run <= $3
RETURNING true`

// ClaimSweep returns true to exactly one caller per period of the sweep
// called name, recording now as its last run.
func (s *Store) ClaimSweep(ctx context.Context, name string, period time.Duration, now time.Time) (bool, error) {
	var claimed bool
	err := s.queryRow(ctx, sqlClaimSweep, name, now, now.Add(-period)).Scan(&claimed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("postgres: claim sweep %q: %w", name, err)
	}
	return claimed, nil
}
