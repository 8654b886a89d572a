package admin

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// External Account Binding keys (RFC 8555 §7.3.4): the HMAC key is handed
// out once, in the answer that creates it; listings never show it.

// eabKeyView is an EAB key as the API shows it.
type eabKeyView struct {
	KeyID     string `json:"key_id"`
	Directory string `json:"directory"`
	Label     string `json:"label,omitempty"`
	Reusable  bool   `json:"reusable"`
	// Bound is how many accounts the key has bound.
	Bound int `json:"bound"`
	// State is active, used (single-use and bound), expired or revoked.
	State      string     `json:"state"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

func newEABKeyView(k *storage.EABKey, now time.Time) eabKeyView {
	state := "active"
	switch {
	case !k.RevokedAt.IsZero():
		state = "revoked"
	case !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt):
		state = "expired"
	case !k.Reusable && k.Bound > 0:
		state = "used"
	}
	return eabKeyView{
		KeyID: k.ID, Directory: k.Directory, Label: k.Label, Reusable: k.Reusable, Bound: k.Bound, State: state,
		CreatedAt: k.CreatedAt, ExpiresAt: timePtr(k.ExpiresAt), RevokedAt: timePtr(k.RevokedAt), LastUsedAt: timePtr(k.LastUsedAt),
	}
}

func (s *Server) listEABKeys(c *call) error {
	if err := c.checkQuery(); err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	d, err := s.loadDirectory(ctx, c.vars("name"))
	if err != nil {
		return err
	}
	keys, err := s.store.ListEABKeys(ctx, d.Name)
	if err != nil {
		return fmt.Errorf("list EAB keys of %s: %w", d.Name, err)
	}
	items, next, err := pageSlice(keys, p)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	views := make([]eabKeyView, len(items))
	for i, k := range items {
		views[i] = newEABKeyView(k, now)
	}
	replyPage(c, views, next)
	return nil
}

func (s *Server) getEABKey(c *call) error {
	id := c.vars("id")
	k, err := s.store.GetEABKey(c.r.Context(), id)
	if err != nil {
		return storeError(err, fmt.Sprintf("EAB key %q", id))
	}
	c.reply(http.StatusOK, newEABKeyView(k, s.clock.Now()))
	return nil
}

// newEABKeyAnswer is the only answer that holds an HMAC key.
type newEABKeyAnswer struct {
	eabKeyView
	// HMACKey is base64url without padding, as ACME clients take it.
	HMACKey string `json:"hmac_key"`
}

func (s *Server) createEABKey(c *call) error {
	var req struct {
		Label    string `json:"label"`
		Reusable bool   `json:"reusable"`
		// TTL is a Go duration ("720h"); absent or "0" never expires.
		TTL string `json:"ttl"`
	}
	if err := c.decodeBody(&req, true); err != nil {
		return err
	}
	ttl, err := parseTTL("ttl", req.TTL)
	if err != nil {
		return err
	}
	ctx := c.r.Context()
	d, err := s.loadDirectory(ctx, c.vars("name"))
	if err != nil {
		return err
	}
	if s.cfg.EABKeys == nil {
		return unavailable("this server was started without EAB key support")
	}
	nk, err := s.cfg.EABKeys.Create(ctx, d.Name, req.Label, req.Reusable, ttl)
	if err != nil {
		return fmt.Errorf("create EAB key: %w", err)
	}
	k, err := s.store.GetEABKey(ctx, nk.KeyID)
	if err != nil {
		return fmt.Errorf("read the new EAB key: %w", err)
	}
	c.object = "eab:" + k.ID
	c.detail = fmt.Sprintf("created EAB key %s (reusable=%v, ttl=%s)", k.ID, k.Reusable, ttlText(ttl))
	c.w.Header().Set("Location", apiPrefix+"/eab-keys/"+k.ID)
	c.reply(http.StatusCreated, newEABKeyAnswer{eabKeyView: newEABKeyView(k, s.clock.Now()), HMACKey: nk.HMACKey})
	return nil
}

func (s *Server) revokeEABKey(c *call) error {
	var req struct {
		DeactivateAccounts bool `json:"deactivate_accounts"`
	}
	if err := c.decodeBody(&req, true); err != nil {
		return err
	}
	ctx := c.r.Context()
	id := c.vars("id")
	k, err := s.store.GetEABKey(ctx, id)
	if err != nil {
		return storeError(err, fmt.Sprintf("EAB key %q", id))
	}
	c.dir = k.Directory
	n, err := s.store.RevokeEABKey(ctx, id, req.DeactivateAccounts, s.clock.Now())
	switch {
	case errors.Is(err, storage.ErrConflict):
		return conflict("EAB key %s is already revoked", id)
	case err != nil:
		return storeError(err, fmt.Sprintf("EAB key %q", id))
	}
	c.detail = fmt.Sprintf("revoked EAB key %s; deactivated %d accounts", id, n)
	if k, err = s.store.GetEABKey(ctx, id); err != nil {
		return fmt.Errorf("read the revoked EAB key: %w", err)
	}
	c.reply(http.StatusOK, struct {
		eabKeyView
		DeactivatedAccounts int `json:"deactivated_accounts"`
	}{newEABKeyView(k, s.clock.Now()), n})
	return nil
}

// parseTTL reads a lifetime field: a Go duration, "" or "0" for none.
func parseTTL(field, v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, invalid(field, "%q must be a duration such as 720h or 30m (0 for none)", v)
	}
	return d, nil
}

func ttlText(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return d.String()
}
