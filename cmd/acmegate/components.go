package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/local"
	"github.com/acmegate/acmegate/storage"
)

// components are what both `serve` and the administration verbs need: the
// store, the CA backend and the sealing key.
type components struct {
	store   storage.Store
	localCA *local.CA
	backend ca.Backend
	// upstreams are the configured upstream backends.
	upstreams []ca.Backend
	sealer    *acme.Sealer
	// catalog is what the backends offer, to check directory settings.
	catalog acme.Catalog
}

func (c *components) close() { _ = c.store.Close() }

func openComponents(ctx context.Context, cfg *Config, log *slog.Logger) (*components, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	st, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	c := &components{store: st}
	lc := local.Config{
		Dir:        cfg.CA.Local.Dir,
		KeyType:    cfg.CA.Local.KeyType,
		Validity:   cfg.CA.Local.Validity,
		CommonName: cfg.CA.Local.CommonName,
	}
	for _, p := range cfg.CA.Local.Profiles {
		lc.Profiles = append(lc.Profiles, ca.Profile{Name: p.Name, Description: p.Description, Validity: p.Validity, ClientAuth: p.ClientAuth})
	}
	if c.localCA, err = local.New(ctx, lc); err != nil {
		st.Close()
		return nil, fmt.Errorf("local CA: %w", err)
	}
	c.backend = c.localCA
	for _, bc := range cfg.Backends {
		b, err := openBackend(bc, cfg.DataDir, log, nil)
		if err != nil {
			st.Close()
			return nil, err
		}
		c.upstreams = append(c.upstreams, b)
	}
	if c.catalog, err = acme.CatalogOf(ctx, append([]ca.Backend{c.backend}, c.upstreams...)...); err != nil {
		st.Close()
		return nil, err
	}
	key, err := loadOrCreateKey(cfg.Secrets.KeyFile)
	if err != nil {
		st.Close()
		return nil, err
	}
	if c.sealer, err = acme.NewSealer(key); err != nil {
		st.Close()
		return nil, err
	}
	return c, nil
}

// loadOrCreateKey reads the 32-byte sealing key, creating it (0600) on first
// use. O_EXCL makes concurrent first starts agree on one key.
func loadOrCreateKey(path string) ([]byte, error) {
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
		fresh := make([]byte, 32)
		_, _ = rand.Read(fresh)
		f, cerr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if cerr == nil {
			_, werr := f.Write(fresh)
			if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
				return nil, fmt.Errorf("write sealing key %s: %w", path, err)
			}
			return fresh, nil
		}
		if !errors.Is(cerr, fs.ErrExist) {
			return nil, fmt.Errorf("create sealing key %s: %w", path, cerr)
		}
		key, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read sealing key: %w", err)
	}
	if err := ownerOnly("sealing key (secrets.key_file)", path); err != nil {
		return nil, err
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("sealing key %s must hold exactly 32 bytes, it holds %d", path, len(key))
	}
	return key, nil
}

// putConfigDirectories writes the configuration file's directories to
// storage; with none, it makes sure a "default" directory exists.
func putConfigDirectories(ctx context.Context, cfg *Config, c *components) error {
	var defs []acme.DirectoryDefinition
	for _, d := range cfg.Directories {
		defs = append(defs, acme.DirectoryDefinition{Name: d.Name, Disabled: d.Disabled, Settings: d.DirectorySettings})
	}
	if len(defs) == 0 {
		_, err := c.store.GetDirectory(ctx, "default")
		if err == nil {
			return nil
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("read directory default: %w", err)
		}
		defs = []acme.DirectoryDefinition{{Name: "default"}}
	}
	return acme.PutConfigDirectories(ctx, c.store, c.catalog, defs, nowUTC())
}
