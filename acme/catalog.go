package acme

import (
	"context"
	"fmt"

	"github.com/acmegate/acmegate/ca"
)

// Catalog is what the CA backends offer: each backend's profile names, and
// which backend serves profiles that name none. Directory settings are
// checked against it, so a profile can only point at a product a backend
// really has.
type Catalog struct {
	// Default is the name of the backend used when a profile names none.
	Default string
	// Profiles lists each backend's profile names, by backend name.
	Profiles map[string][]string
}

// CatalogOf asks each backend for its profiles; the first is the default.
func CatalogOf(ctx context.Context, backends ...ca.Backend) (Catalog, error) {
	c := Catalog{Profiles: map[string][]string{}}
	for i, b := range backends {
		if _, dup := c.Profiles[b.Name()]; dup {
			return c, fmt.Errorf("two CA backends are called %q", b.Name())
		}
		ps, err := b.Profiles(ctx)
		if err != nil {
			return c, fmt.Errorf("list the profiles of backend %s: %w", b.Name(), err)
		}
		names := make([]string, len(ps))
		for j, p := range ps {
			names[j] = p.Name
		}
		c.Profiles[b.Name()] = names
		if i == 0 {
			c.Default = b.Name()
		}
	}
	return c, nil
}

func (c Catalog) has(backend, product string) bool {
	for _, p := range c.Profiles[backend] {
		if p == product {
			return true
		}
	}
	return false
}
