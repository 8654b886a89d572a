package postgres

import "testing"

// TestCheckSchema: a current database passes; one a newer binary migrated
// past this one's migrations does not.
func TestCheckSchema(t *testing.T) {
	url := serverURL(t)
	s := openStore(t, url, freshSchema(t, url))
	ctx := testCtx(t)
	if err := s.CheckSchema(ctx); err != nil {
		t.Fatalf("CheckSchema on a fresh schema: %v", err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (9999, 'from_the_future')`); err != nil {
		t.Fatal(err)
	}
	if err := s.CheckSchema(ctx); err == nil {
		t.Fatal("CheckSchema accepted a schema migrated past this binary")
	}
}
