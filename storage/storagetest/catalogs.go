package storagetest

import (
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// testBackendCatalog: a catalog round-trips, a later sync replaces it, and
// an unknown backend is ErrNotFound.
func testBackendCatalog(t *testing.T, e *env) {
	_, _, err := e.s.GetBackendCatalog(e.ctx, "scm")
	wantErr(t, "GetBackendCatalog before any sync", err, storage.ErrNotFound)
	must(t, "PutBackendCatalog", e.s.PutBackendCatalog(e.ctx, "scm", []byte(`{"cert_types":[1]}`), base()))
	must(t, "PutBackendCatalog again", e.s.PutBackendCatalog(e.ctx, "scm", []byte(`{"cert_types":[1,2]}`), base().Add(time.Hour)))
	got, at, err := e.s.GetBackendCatalog(e.ctx, "scm")
	must(t, "GetBackendCatalog", err)
	if string(got) != `{"cert_types":[1,2]}` || !at.Equal(base().Add(time.Hour)) || at.Location() != time.UTC {
		t.Errorf("catalog = %s at %v, want the second sync", got, at)
	}
	_, _, err = e.s.GetBackendCatalog(e.ctx, "digicert")
	wantErr(t, "GetBackendCatalog of another backend", err, storage.ErrNotFound)
}
