package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/acme"
	"github.com/acmegate/acmegate/storage"
)

// Directories: each with a summary of its settings and its EAB keys (never
// their HMAC keys); admins create EAB keys here, and the one answer that
// creates a key is the only place its HMAC key is ever shown.

// dashMaxLabel bounds an EAB key's label.
const dashMaxLabel = 200

// dirSummary is one directory on the directories page.
type dirSummary struct {
	*storage.Directory
	Profiles         []string
	DefaultProfile   string
	EABRequired      bool
	ApprovalRequired bool
	// ApprovalProfiles are the profiles that need approval when the whole
	// directory does not.
	ApprovalProfiles []string
	Domains          string
	PreValidated     string
	// Unreadable is set when the stored settings do not decode.
	Unreadable bool
	Keys       []eabKeyRow
}

// eabKeyRow is an EAB key as the dashboard lists it.
type eabKeyRow struct {
	*storage.EABKey
	State string
}

func eabKeyState(k *storage.EABKey, now time.Time) string {
	switch {
	case !k.RevokedAt.IsZero():
		return "revoked"
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		return "expired"
	case !k.Reusable && k.Bound > 0:
		return "used"
	}
	return "active"
}

// summarize reads the settings a directory page lists.
func summarizeDirectory(d *storage.Directory) dirSummary {
	sum := dirSummary{Directory: d}
	var set acme.DirectorySettings
	if len(d.Settings) > 0 {
		if err := json.Unmarshal(d.Settings, &set); err != nil {
			sum.Unreadable = true
			return sum
		}
	}
	for _, p := range set.Profiles {
		sum.Profiles = append(sum.Profiles, p.Name)
		if p.RequireApproval && !set.RequireApproval {
			sum.ApprovalProfiles = append(sum.ApprovalProfiles, p.Name)
		}
	}
	sum.DefaultProfile = set.DefaultProfile
	sum.EABRequired = set.ExternalAccountRequired
	sum.ApprovalRequired = set.RequireApproval
	sum.Domains = strings.Join(set.Policy.AllowedDomains, ", ")
	sum.PreValidated = strings.Join(set.Policy.PreValidatedDomains, ", ")
	return sum
}

// directoriesData is what the directories page shows.
type directoriesData struct {
	Dirs []dirSummary
	// CanCreateKeys: the viewer is an admin and the server has EAB keys.
	CanCreateKeys bool
}

func (s *Server) directoriesPage(d *dashReq) error {
	ctx := d.r.Context()
	dirs, err := s.store.ListDirectories(ctx)
	if err != nil {
		return fmt.Errorf("list directories: %w", err)
	}
	now := s.clock.Now()
	data := &directoriesData{CanCreateKeys: s.cfg.EABKeys != nil && allows(d.tok.Role, storage.RoleAdmin)}
	for _, dir := range dirs {
		sum := summarizeDirectory(dir)
		keys, err := s.store.ListEABKeys(ctx, dir.Name)
		if err != nil {
			return fmt.Errorf("list EAB keys of %s: %w", dir.Name, err)
		}
		for _, k := range keys {
			sum.Keys = append(sum.Keys, eabKeyRow{EABKey: k, State: eabKeyState(k, now)})
		}
		data.Dirs = append(data.Dirs, sum)
	}
	s.render(d.w, http.StatusOK, "directories", d.view("Directories", "directories", data))
	return nil
}

// eabCreatedData is the one page that shows a new key's HMAC key.
type eabCreatedData struct {
	Directory string
	Key       *acme.NewEABKey
	Label     string
	Reusable  bool
}

// dashTTLs are the lifetimes the EAB form offers.
var dashTTLs = map[string]time.Duration{
	"": 0, "never": 0, "1d": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "30d": 30 * 24 * time.Hour,
	"90d": 90 * 24 * time.Hour, "365d": 365 * 24 * time.Hour,
}

// createEABForm creates an EAB key in a directory and shows its HMAC key,
// once. The page is not cached (Cache-Control: no-store) and is the answer
// to the POST itself, so no URL leads back to it.
func (s *Server) createEABForm(d *dashReq) error {
	ctx := d.r.Context()
	name := mux.Vars(d.r)["name"]
	dir, err := s.store.GetDirectory(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return dashErrorf(http.StatusNotFound, "There is no directory %q.", name)
	}
	if err != nil {
		return fmt.Errorf("read directory %s: %w", name, err)
	}
	if s.cfg.EABKeys == nil {
		return dashErrorf(http.StatusServiceUnavailable, "This server was started without EAB key support.")
	}
	label := strings.TrimSpace(d.r.PostForm.Get("label"))
	if len(label) > dashMaxLabel {
		return dashErrorf(http.StatusUnprocessableEntity, "The label may be at most %d characters long.", dashMaxLabel)
	}
	ttl, ok := dashTTLs[d.r.PostForm.Get("ttl")]
	if !ok {
		return dashErrorf(http.StatusUnprocessableEntity, "Choose a lifetime from the list.")
	}
	reusable := d.r.PostForm.Get("reusable") == "on"
	nk, err := s.cfg.EABKeys.Create(ctx, dir.Name, label, reusable, ttl)
	if err != nil {
		if aerr := d.audit(dir.Name, storage.OutcomeFailure, "the EAB key could not be created"); aerr != nil {
			return aerr
		}
		return fmt.Errorf("create EAB key: %w", err)
	}
	d.object = "eab:" + nk.KeyID
	lifetime := "never expires"
	if ttl > 0 {
		lifetime = "expires " + dashTime(nk.ExpiresAt) + " UTC"
	}
	if err := d.audit(dir.Name, storage.OutcomeSuccess, fmt.Sprintf("created EAB key %s (reusable=%v, %s)", nk.KeyID, reusable, lifetime)); err != nil {
		return err
	}
	data := &eabCreatedData{Directory: dir.Name, Key: nk, Label: label, Reusable: reusable}
	s.render(d.w, http.StatusCreated, "eab_created", d.view("New EAB key", "directories", data))
	return nil
}
