package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/acmegate/acmegate/storage"
	"github.com/acmegate/acmegate/storage/storagetest"
)

// BenchmarkStore runs the storage hot-path benchmarks of storagetest.Bench
// on a fresh database file each.
func BenchmarkStore(b *testing.B) {
	storagetest.Bench(b, func(b *testing.B) storage.Store {
		s, err := Open(context.Background(), filepath.Join(b.TempDir(), "acmegate.db"))
		if err != nil {
			b.Fatalf("Open: %v", err)
		}
		b.Cleanup(func() {
			if err := s.Close(); err != nil {
				b.Errorf("Close: %v", err)
			}
		})
		return s
	})
}
