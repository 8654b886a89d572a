package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// One statement decides a claim on the single write connection: the insert
// of a sweep that never ran, or the update of one whose last run is at or
// before ?3 (now - period), returns a row; a sweep that ran more recently
// fails the upsert's WHERE and returns none. Concurrent claimers, in this
// process or another one on the same file, run it one after the other, so
// the second sees the first's last_run.
const sqlClaimSweep = `INSERT INTO sweeps (name, last_run) VALUES (?1, ?2)
ON CONFLICT (name) DO UPDATE SET last_run = excluded.last_run WHERE sweeps.last_run <= ?3
RETURNING 1`

// ClaimSweep returns true to exactly one caller per period of the sweep
// called name, recording now as its last run.
func (s *Store) ClaimSweep(ctx context.Context, name string, period time.Duration, now time.Time) (bool, error) {
	var one int
	err := s.writer().queryRow(ctx, sqlClaimSweep, name, tval(now), tval(now.Add(-period))).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sqlite: claim sweep %q: %w", name, err)
	}
	return true, nil
}
