package acme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// dirCacheTTL bounds how long an instance serves a directory's settings
// after an operator changed them on another instance.
const dirCacheTTL = 2 * time.Second

// errNoDirectory: no directory of that name exists.
var errNoDirectory = errors.New("no such directory")

// registry serves directories from storage with a short cache, so a request
// costs no extra query and a change made anywhere reaches every instance
// within dirCacheTTL.
type registry struct {
	store   storage.DirectoryStore
	catalog Catalog
	clock   Clock

	mu    sync.Mutex
	cache map[string]cachedDir
}

type cachedDir struct {
	d       *directory
	err     error
	fetched time.Time
}

func newRegistry(st storage.DirectoryStore, catalog Catalog, clock Clock) *registry {
	return &registry{store: st, catalog: catalog, clock: clock, cache: map[string]cachedDir{}}
}

// get returns the directory called name, or an error wrapping
// errNoDirectory.
func (r *registry) get(ctx context.Context, name string) (*directory, error) {
	now := r.clock.Now()
	r.mu.Lock()
	c, ok := r.cache[name]
	r.mu.Unlock()
	if ok && now.Sub(c.fetched) < dirCacheTTL {
		return c.d, c.err
	}
	d, err := r.load(ctx, name)
	if err != nil && !errors.Is(err, errNoDirectory) {
		// A storage fault is not cached: the next request tries again.
		return nil, err
	}
	r.mu.Lock()
	r.cache[name] = cachedDir{d: d, err: err, fetched: now}
	r.mu.Unlock()
	return d, err
}

func (r *registry) load(ctx context.Context, name string) (*directory, error) {
	if !ValidDirectoryName(name) {
		return nil, fmt.Errorf("%w: %q", errNoDirectory, truncate(name, 64))
	}
	row, err := r.store.GetDirectory(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", errNoDirectory, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read directory %s: %w", name, err)
	}
	var s DirectorySettings
	if err := json.Unmarshal(row.Settings, &s); err != nil {
		return nil, fmt.Errorf("directory %s has unreadable settings: %w", name, err)
	}
	return compileDirectory(row.Name, row.Disabled, s, r.catalog)
}
