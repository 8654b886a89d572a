package sqlite

import (
	"path/filepath"
	"testing"
)

// TestCheckSchema: a current database passes; one a newer binary migrated
// past this one's migrations does not.
func TestCheckSchema(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "acmegate.db"))
	ctx := testCtx(t)
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema on a fresh database: %v", err)
	}
	if _, err := s.write.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'from_the_future', '2031-01-01T00:00:00.000000000Z')`); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckSchema(ctx); err == nil {
		t.Fatal("CheckSchema accepted a database migrated past this binary")
	}
}
