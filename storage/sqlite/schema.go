package sqlite

import (
	"context"
	"fmt"
)

// CheckSchema reports an error unless the database's schema version is the
// one this binary's migrations lead to: an instance whose database another
// binary migrated past it, or whose migrations did not all apply, is not
// ready (/readyz). One indexed read.
func (s *Store) CheckSchema(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	var current int
	if err := s.read.QueryRowContext(ctx, sqlMaxMigration).Scan(&current); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if current != len(ms) {
		return fmt.Errorf("sqlite: database schema version %d, this binary expects %d", current, len(ms))
	}
	return nil
}
