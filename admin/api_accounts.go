package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// accountView is an ACME account as the API shows it.
type accountView struct {
	ID            string          `json:"id"`
	Directory     string          `json:"directory"`
	Status        storage.Status  `json:"status"`
	Contact       []string        `json:"contact"`
	TermsAgreed   bool            `json:"terms_agreed"`
	KeyThumbprint string          `json:"key_thumbprint"`
	Key           json.RawMessage `json:"key,omitempty"`
	EABKeyID      string          `json:"eab_key_id,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

func newAccountView(a *storage.Account) accountView {
	v := accountView{
		ID: a.ID, Directory: a.Directory, Status: a.Status, Contact: a.Contact, TermsAgreed: a.TermsAgreed,
		KeyThumbprint: a.KeyThumbprint, EABKeyID: a.EABKeyID, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
	if v.Contact == nil {
		v.Contact = []string{}
	}
	if json.Valid(a.KeyJWK) {
		v.Key = a.KeyJWK
	}
	return v
}

// accountStatuses are the statuses an account can have (RFC 8555 §7.1.6).
var accountStatuses = []string{string(storage.StatusValid), string(storage.StatusDeactivated), string(storage.StatusRevoked)}

func (s *Server) listAccounts(c *call) error {
	if err := c.checkQuery("directory", "status"); err != nil {
		return err
	}
	status, err := c.queryEnum("status", accountStatuses...)
	if err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	f := storage.AccountFilter{Directory: c.query("directory"), Status: storage.Status(status)}
	accounts, next, err := s.store.ListAccounts(c.r.Context(), f, p)
	if err != nil {
		return listError(fmt.Errorf("list accounts: %w", err), p)
	}
	views := make([]accountView, len(accounts))
	for i, a := range accounts {
		views[i] = newAccountView(a)
	}
	replyPage(c, views, next)
	return nil
}

func (s *Server) getAccount(c *call) error {
	id := c.vars("id")
	a, err := s.store.GetAccount(c.r.Context(), id)
	if err != nil {
		return storeError(err, fmt.Sprintf("account %q", id))
	}
	c.reply(http.StatusOK, newAccountView(a))
	return nil
}

// deactivateAccount deactivates an account for good (RFC 8555 §7.3.6):
// its orders and authorizations stop being usable, and it can never be
// reactivated.
func (s *Server) deactivateAccount(c *call) error {
	if err := c.decodeBody(&struct{}{}, true); err != nil {
		return err
	}
	ctx := c.r.Context()
	id := c.vars("id")
	a, err := s.store.GetAccount(ctx, id)
	if err != nil {
		return storeError(err, fmt.Sprintf("account %q", id))
	}
	c.dir = a.Directory
	if a.Status == storage.StatusDeactivated {
		return conflict("account %s is already deactivated", id)
	}
	a.Status, a.UpdatedAt = storage.StatusDeactivated, s.clock.Now()
	if err := s.store.UpdateAccount(ctx, a); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return conflict("account %s is already deactivated", id)
		}
		return storeError(err, fmt.Sprintf("account %q", id))
	}
	c.detail = "deactivated account " + id
	c.reply(http.StatusOK, newAccountView(a))
	return nil
}
