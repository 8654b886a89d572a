package storagetest

import (
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// directory builds, without storing, an enabled runtime directory called
// name.
func directory(name string) *storage.Directory {
	return &storage.Directory{
		Name: name,
		// Spacing and key order a JSON re-encoding would not keep: the
		// store keeps the caller's bytes.
		Settings:  []byte(`{"policy": {"wildcard": true}, "eab": {"required": false}}`),
		Source:    "runtime",
		CreatedAt: base(),
		UpdatedAt: base(),
	}
}

func testDirectoryRoundTrip(t *testing.T, e *env) {
	paris := time.FixedZone("UTC+2", 2*60*60)
	every := directory("team-a")
	every.Disabled = true
	every.Source = "config"
	// Not UTC on the way in; MUST be UTC on the way out.
	every.CreatedAt = base().In(paris)
	every.UpdatedAt = base().Add(time.Minute).In(paris)
	tests := []struct {
		name string
		d    *storage.Directory
	}{
		{"every field", every},
		{"empty optionals", &storage.Directory{Name: "bare", Source: "runtime", CreatedAt: base(), UpdatedAt: base()}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "CreateDirectory", e.s.CreateDirectory(e.ctx, tc.d))
			got, err := e.s.GetDirectory(e.ctx, tc.d.Name)
			must(t, "GetDirectory", err)
			if d := diff(tc.d, got); d != "" {
				t.Errorf("GetDirectory (-want +got):\n%s", d)
			}
			checkUTC(t, got)
		})
	}
}

func testDirectoryNotFound(t *testing.T, e *env) {
	must(t, "CreateDirectory", e.s.CreateDirectory(e.ctx, directory("default")))
	for _, name := range []string{"no-such-directory", "Default", ""} {
		t.Run(name, func(t *testing.T) {
			got, err := e.s.GetDirectory(e.ctx, name)
			wantErr(t, "GetDirectory", err, storage.ErrNotFound)
			if got != nil {
				t.Errorf("got %+v with ErrNotFound, want nil", got)
			}
		})
	}
}

func testDirectoryCreateDuplicate(t *testing.T, e *env) {
	first := directory("default")
	must(t, "CreateDirectory", e.s.CreateDirectory(e.ctx, first))
	put := directory("from-config")
	must(t, "PutDirectory", e.s.PutDirectory(e.ctx, put))

	tests := []struct {
		name string
		orig *storage.Directory
	}{
		{"name taken by CreateDirectory", first},
		{"name taken by PutDirectory", put},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dup := *tc.orig
			dup.Disabled = true
			dup.Settings = []byte(`{"other":true}`)
			dup.UpdatedAt = base().Add(time.Hour)
			wantErr(t, "CreateDirectory duplicate", e.s.CreateDirectory(e.ctx, &dup), storage.ErrConflict)
			got, err := e.s.GetDirectory(e.ctx, tc.orig.Name)
			must(t, "GetDirectory", err)
			if d := diff(tc.orig, got); d != "" {
				t.Errorf("refused CreateDirectory wrote (-want +got):\n%s", d)
			}
		})
	}
}

func testPutDirectory(t *testing.T, e *env) {
	first := directory("default")
	first.Source = "config"
	must(t, "PutDirectory insert", e.s.PutDirectory(e.ctx, first))
	got, err := e.s.GetDirectory(e.ctx, first.Name)
	must(t, "GetDirectory", err)
	if d := diff(first, got); d != "" {
		t.Errorf("after inserting PutDirectory (-want +got):\n%s", d)
	}

	tests := []struct {
		name   string
		change func(d *storage.Directory)
	}{
		{"settings and times", func(d *storage.Directory) {
			d.Settings = []byte(`{"policy":{"wildcard":false}}`)
		}},
		{"disable", func(d *storage.Directory) { d.Disabled = true }},
		{"enable and change source", func(d *storage.Directory) { d.Disabled, d.Source = false, "runtime" }},
		{"drop settings", func(d *storage.Directory) { d.Settings = nil }},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			upd := *first
			tc.change(&upd)
			upd.UpdatedAt = base().Add(time.Duration(i+1) * time.Hour)
			// CreatedAt is kept whatever the replacement says.
			upd.CreatedAt = base().Add(time.Duration(i+1) * 24 * time.Hour)
			must(t, "PutDirectory replace", e.s.PutDirectory(e.ctx, &upd))
			want := upd
			want.CreatedAt = first.CreatedAt
			got, err := e.s.GetDirectory(e.ctx, first.Name)
			must(t, "GetDirectory", err)
			if d := diff(&want, got); d != "" {
				t.Errorf("after replacing PutDirectory (-want +got):\n%s", d)
			}
			first = &want
		})
	}
}

func testListDirectories(t *testing.T, e *env) {
	got, err := e.s.ListDirectories(e.ctx)
	must(t, "ListDirectories empty", err)
	if len(got) != 0 {
		t.Errorf("ListDirectories of an empty store = %d directories, want none", len(got))
	}

	// Stored out of name order, through both writers.
	zeta, alpha, mid, dflt := directory("zeta"), directory("alpha"), directory("mid"), directory("default")
	alpha.CreatedAt = base().Add(time.Hour) // newer, still listed by name
	mid.Disabled = true
	must(t, "CreateDirectory", e.s.CreateDirectory(e.ctx, zeta))
	must(t, "PutDirectory", e.s.PutDirectory(e.ctx, alpha))
	must(t, "CreateDirectory", e.s.CreateDirectory(e.ctx, mid))
	must(t, "PutDirectory", e.s.PutDirectory(e.ctx, dflt))

	got, err = e.s.ListDirectories(e.ctx)
	must(t, "ListDirectories", err)
	if d := diff([]*storage.Directory{alpha, dflt, mid, zeta}, got); d != "" {
		t.Errorf("ListDirectories (-want +got):\n%s", d)
	}
	checkUTC(t, got)
}
