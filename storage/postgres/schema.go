package postgres

import (
	"context"
	"fmt"
)

// CheckSchema reports an error unless the database's schema version is the
// one this binary's migrations lead to: during a rolling upgrade, an
// instance whose database a newer binary migrated past it is not ready
// (/readyz). One indexed read.
func (s *Store) CheckSchema(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	var current int
	if err := s.pool.QueryRow(ctx, sqlMaxMigration).Scan(&current); err != nil {
		return fmt.Errorf("postgres: read schema version: %w", s.fail(err))
	}
	if current != len(ms) {
		return fmt.Errorf("postgres: database schema version %d, this binary expects %d", current, len(ms))
	}
	return nil
}
