package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

// Directories: those of the configuration file are read-only here (the
// file is applied again at every start); those created at run time are
// managed through acme.PutRuntimeDirectory, which checks their settings
// against the backends' profiles.

// directoryView is a directory as the API shows it.
type directoryView struct {
	Name     string `json:"name"`
	Source   string `json:"source"`
	Disabled bool   `json:"disabled"`
	// Settings is acme.DirectorySettings as JSON (durations in
	// nanoseconds, as storage keeps them).
	Settings  json.RawMessage `json:"settings"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

func newDirectoryView(d *storage.Directory) directoryView {
	settings := json.RawMessage(d.Settings)
	if len(settings) == 0 {
		settings = json.RawMessage("{}")
	}
	return directoryView{Name: d.Name, Source: d.Source, Disabled: d.Disabled, Settings: settings, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

func (s *Server) listDirectories(c *call) error {
	if err := c.checkQuery(); err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	dirs, err := s.store.ListDirectories(c.r.Context())
	if err != nil {
		return fmt.Errorf("list directories: %w", err)
	}
	items, next, err := pageSlice(dirs, p)
	if err != nil {
		return err
	}
	views := make([]directoryView, len(items))
	for i, d := range items {
		views[i] = newDirectoryView(d)
	}
	replyPage(c, views, next)
	return nil
}

// loadDirectory reads the directory called name, or a 404.
func (s *Server) loadDirectory(ctx context.Context, name string) (*storage.Directory, error) {
	d, err := s.store.GetDirectory(ctx, name)
	if err != nil {
		return nil, storeError(err, fmt.Sprintf("directory %q", name))
	}
	return d, nil
}

func (s *Server) getDirectory(c *call) error {
	d, err := s.loadDirectory(c.r.Context(), c.vars("name"))
	if err != nil {
		return err
	}
	c.reply(http.StatusOK, newDirectoryView(d))
	return nil
}

// directoryRequest is the body of a create (Name required) or an update
// (Name absent; Disabled absent keeps the current state).
type directoryRequest struct {
	Name     string                 `json:"name"`
	Disabled *bool                  `json:"disabled"`
	Settings acme.DirectorySettings `json:"settings"`
}

func (s *Server) createDirectory(c *call) error {
	var req directoryRequest
	if err := c.decodeBody(&req, false); err != nil {
		return err
	}
	ctx := c.r.Context()
	if req.Name == "" {
		return invalid("name", "a directory needs a name")
	}
	if !acme.ValidDirectoryName(req.Name) {
		return invalid("name", "%q must be 1-63 lower-case letters, digits or hyphens, starting with a letter or digit", truncate(req.Name, 64))
	}
	c.dir, c.object = req.Name, "directory:"+req.Name
	if _, err := s.store.GetDirectory(ctx, req.Name); err == nil {
		return conflict("directory %q already exists", req.Name)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("read directory %s: %w", req.Name, err)
	}
	def := acme.DirectoryDefinition{Name: req.Name, Disabled: req.Disabled != nil && *req.Disabled, Settings: req.Settings}
	if err := s.putRuntimeDirectory(ctx, def, true); err != nil {
		return err
	}
	d, err := s.loadDirectory(ctx, req.Name)
	if err != nil {
		return err
	}
	c.detail = fmt.Sprintf("created runtime directory %s (disabled=%v)", d.Name, d.Disabled)
	c.w.Header().Set("Location", apiPrefix+"/directories/"+d.Name)
	c.reply(http.StatusCreated, newDirectoryView(d))
	return nil
}

func (s *Server) updateDirectory(c *call) error {
	var req directoryRequest
	if err := c.decodeBody(&req, false); err != nil {
		return err
	}
	name := c.vars("name")
	if req.Name != "" && req.Name != name {
		return invalid("name", "a directory cannot be renamed (the body names %q, the path %q)", req.Name, name)
	}
	ctx := c.r.Context()
	cur, err := s.runtimeDirectory(ctx, name)
	if err != nil {
		return err
	}
	disabled := cur.Disabled
	if req.Disabled != nil {
		disabled = *req.Disabled
	}
	if err := s.putRuntimeDirectory(ctx, acme.DirectoryDefinition{Name: name, Disabled: disabled, Settings: req.Settings}, false); err != nil {
		return err
	}
	d, err := s.loadDirectory(ctx, name)
	if err != nil {
		return err
	}
	c.detail = fmt.Sprintf("replaced the settings of directory %s (disabled=%v)", name, d.Disabled)
	c.reply(http.StatusOK, newDirectoryView(d))
	return nil
}

func (s *Server) disableDirectory(c *call) error { return s.setDirectoryDisabled(c, true) }
func (s *Server) enableDirectory(c *call) error  { return s.setDirectoryDisabled(c, false) }

func (s *Server) setDirectoryDisabled(c *call, disabled bool) error {
	if err := c.decodeBody(&struct{}{}, true); err != nil {
		return err
	}
	ctx := c.r.Context()
	d, err := s.runtimeDirectory(ctx, c.vars("name"))
	if err != nil {
		return err
	}
	state := map[bool]string{true: "disabled", false: "enabled"}[disabled]
	if d.Disabled == disabled {
		c.detail = "directory " + d.Name + " was already " + state
	} else {
		// Only the flag changes: the settings are not checked again, so a
		// directory whose backend went away can still be disabled.
		d.Disabled, d.UpdatedAt = disabled, s.clock.Now()
		if err := s.store.PutDirectory(ctx, d); err != nil {
			return fmt.Errorf("update directory %s: %w", d.Name, err)
		}
		c.detail = "directory " + d.Name + " " + state
	}
	c.reply(http.StatusOK, newDirectoryView(d))
	return nil
}

// runtimeDirectory reads a directory the API may change: 404 if it does
// not exist, 409 if the configuration file defines it.
func (s *Server) runtimeDirectory(ctx context.Context, name string) (*storage.Directory, error) {
	d, err := s.loadDirectory(ctx, name)
	if err != nil {
		return nil, err
	}
	if d.Source == "config" {
		return nil, conflict("directory %q comes from the configuration file, which is applied again at every start: change it there", name)
	}
	return d, nil
}

// putRuntimeDirectory checks def first, so that settings the backends
// cannot serve are the caller's 400 and not confused with a storage
// failure, then stores it.
func (s *Server) putRuntimeDirectory(ctx context.Context, def acme.DirectoryDefinition, create bool) error {
	if err := acme.PutRuntimeDirectory(ctx, dryRunDirectories{}, s.cfg.Catalog, def, create, s.clock.Now()); err != nil {
		return invalid("settings", "%v", err)
	}
	if err := acme.PutRuntimeDirectory(ctx, s.store, s.cfg.Catalog, def, create, s.clock.Now()); err != nil {
		if create {
			if _, gerr := s.store.GetDirectory(ctx, def.Name); gerr == nil {
				return conflict("directory %q already exists", def.Name)
			}
		}
		return err
	}
	return nil
}

// dryRunDirectories accepts every write and keeps nothing: running
// acme.PutRuntimeDirectory against it checks a definition without storing
// it.
type dryRunDirectories struct{}

func (dryRunDirectories) PutDirectory(context.Context, *storage.Directory) error    { return nil }
func (dryRunDirectories) CreateDirectory(context.Context, *storage.Directory) error { return nil }
func (dryRunDirectories) GetDirectory(context.Context, string) (*storage.Directory, error) {
	return nil, storage.ErrNotFound
}
func (dryRunDirectories) ListDirectories(context.Context) ([]*storage.Directory, error) {
	return nil, nil
}
