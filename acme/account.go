package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/acmegate/acmegate/storage"
)

// maxContacts bounds the contact list of an account.
const maxContacts = 10

type newAccountRequest struct {
	Contact                []string        `json:"contact"`
	TermsOfServiceAgreed   bool            `json:"termsOfServiceAgreed"`
	OnlyReturnExisting     bool            `json:"onlyReturnExisting"`
	ExternalAccountBinding json.RawMessage `json:"externalAccountBinding"`
}

// handleNewAccount creates an account or finds the one of the signing key
// (RFC 8555 §7.3, §7.3.1).
func (s *Server) handleNewAccount(w http.ResponseWriter, r *http.Request, d *directory) error {
	dir := d.name
	req, _, err := s.selfAuthenticatedPOST(r, d)
	if err != nil {
		return err
	}
	var body newAccountRequest
	if err := decodePayload(req, &body); err != nil {
		return err
	}
	thumb, err := thumbprint(req.JWK)
	if err != nil {
		return err
	}
	ctx := r.Context()
	existing, err := s.store.GetAccountByThumbprint(ctx, dir, thumb)
	switch {
	case err == nil:
		// RFC 8555 §7.3.1: the account of a known key is returned with 200.
		if existing.Status != storage.StatusValid {
			return Unauthorized("the account of this key is %s", existing.Status)
		}
		eventFrom(ctx).Account = existing.ID
		w.Header().Set("Location", s.accountURL(dir, existing.ID))
		return writeJSON(w, http.StatusOK, s.accountObject(existing))
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("look up account by key: %w", err)
	}
	if body.OnlyReturnExisting {
		return AccountDoesNotExist("no account exists for this key")
	}
	if err := refuseIfDisabled(d); err != nil {
		return err
	}
	if tos := d.settings.TermsOfService; tos != "" && !body.TermsOfServiceAgreed {
		return Malformed("you must agree to the terms of service at %s (termsOfServiceAgreed: true)", tos)
	}
	var eabKeyID string
	switch {
	case len(body.ExternalAccountBinding) > 0 && string(body.ExternalAccountBinding) != "null":
		if eabKeyID, err = s.verifyEAB(ctx, d, body.ExternalAccountBinding, req.URL, req.JWK); err != nil {
			return err
		}
	case d.settings.ExternalAccountRequired:
		return ExternalAccountRequired("directory %q requires an external account binding: create the account with the key id and HMAC key your operator gave you", d.name)
	}
	contacts, err := checkContacts(body.Contact)
	if err != nil {
		return err
	}
	jwk, err := req.JWK.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode account key: %w", err)
	}
	now := s.clock.Now()
	acct := &storage.Account{
		ID:            uuid.NewString(),
		Directory:     dir,
		Status:        storage.StatusValid,
		Contact:       contacts,
		TermsAgreed:   body.TermsOfServiceAgreed,
		KeyThumbprint: thumb,
		KeyJWK:        jwk,
		EABKeyID:      eabKeyID,
		CreatedAt:     now,
		UpdatedAt:     now,
	}
	if err := s.store.CreateAccount(ctx, acct); err != nil {
		if errors.Is(err, storage.ErrKeyUnusable) {
			// Another request bound the single-use key first, or it was
			// revoked or expired meanwhile.
			return Unauthorized("external account key %q can no longer bind an account (already used, revoked or expired)", eabKeyID)
		}
		if errors.Is(err, storage.ErrConflict) {
			// A concurrent newAccount with the same key won the race:
			// answer as if it had come first.
			if existing, gerr := s.store.GetAccountByThumbprint(ctx, dir, thumb); gerr == nil {
				w.Header().Set("Location", s.accountURL(dir, existing.ID))
				return writeJSON(w, http.StatusOK, s.accountObject(existing))
			}
		}
		return fmt.Errorf("create account: %w", err)
	}
	eventFrom(ctx).Account = acct.ID
	actor := accountActor(acct.ID)
	s.audit(ctx, &storage.AuditEntry{At: now, Actor: actor, Directory: dir, Action: AuditAccountCreate, Object: accountRef(acct.ID),
		Detail: "key " + thumb})
	if eabKeyID != "" {
		s.audit(ctx, &storage.AuditEntry{At: now, Actor: actor, Directory: dir, Action: AuditEABUse, Object: "eab:" + eabKeyID,
			Detail: "bound account " + acct.ID})
	}
	w.Header().Set("Location", s.accountURL(dir, acct.ID))
	return writeJSON(w, http.StatusCreated, s.accountObject(acct))
}

// checkContacts validates contact URLs (RFC 8555 §7.3): only mailto URLs
// with exactly one plain address are supported.
func checkContacts(contacts []string) ([]string, error) {
	if len(contacts) > maxContacts {
		return nil, InvalidContact("at most %d contacts are allowed, got %d", maxContacts, len(contacts))
	}
	out := make([]string, 0, len(contacts))
	for _, c := range contacts {
		u, err := url.Parse(c)
		if err != nil {
			return nil, InvalidContact("contact %q is not a URL", truncate(c, 128))
		}
		if u.Scheme != "mailto" {
			return nil, UnsupportedContact("contact %q: only mailto: contacts are supported", truncate(c, 128))
		}
		// An empty query or fragment ("mailto:a@example.com?") parses to
		// empty fields but is still part of the stored URL.
		if u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(c, "?#") {
			return nil, InvalidContact("contact %q must not carry header fields or a fragment", truncate(c, 128))
		}
		addr := u.Opaque
		if addr == "" || strings.Contains(addr, ",") {
			return nil, InvalidContact("contact %q must name exactly one e-mail address", truncate(c, 128))
		}
		parsed, err := mail.ParseAddress(addr)
		if err != nil || parsed.Address != addr || parsed.Name != "" {
			return nil, InvalidContact("contact %q is not a valid e-mail address", truncate(c, 128))
		}
		at := strings.LastIndexByte(addr, '@')
		if domain := addr[at+1:]; !strings.Contains(domain, ".") {
			return nil, InvalidContact("contact %q: the domain %q is not a public domain name", truncate(c, 128), domain)
		}
		out = append(out, c)
	}
	return out, nil
}

type accountUpdateRequest struct {
	Contact *[]string `json:"contact"`
	Status  string    `json:"status"`
}

// handleAccount answers POST-as-GET on an account, contact updates and
// deactivation (RFC 8555 §7.3.2, §7.3.6).
func (s *Server) handleAccount(w http.ResponseWriter, r *http.Request, d *directory) error {
	dir := d.name
	req, err := s.postForAccount(r, d)
	if err != nil {
		return err
	}
	ctx := r.Context()
	acct := req.Account
	eventFrom(ctx).Account = acct.ID
	if mux.Vars(r)["id"] != acct.ID {
		return Unauthorized("the request is signed by another account than the one addressed")
	}
	if !req.PostAsGet {
		var body accountUpdateRequest
		if err := decodePayload(req, &body); err != nil {
			return err
		}
		changed, deactivated := false, false
		if body.Contact != nil {
			contacts, err := checkContacts(*body.Contact)
			if err != nil {
				return err
			}
			acct.Contact = contacts
			changed = true
		}
		switch body.Status {
		case "":
		case string(storage.StatusDeactivated):
			acct.Status = storage.StatusDeactivated
			changed, deactivated = true, true
		default:
			return Malformed("an account's status can only be changed to deactivated, not %q", truncate(body.Status, 32))
		}
		if changed {
			acct.UpdatedAt = s.clock.Now()
			if err := s.store.UpdateAccount(ctx, acct); err != nil {
				if errors.Is(err, storage.ErrConflict) {
					return Unauthorized("the account is no longer valid")
				}
				return fmt.Errorf("update account: %w", err)
			}
		}
		if deactivated {
			s.audit(ctx, &storage.AuditEntry{At: acct.UpdatedAt, Actor: accountActor(acct.ID), Directory: dir,
				Action: AuditAccountDeactivate, Object: accountRef(acct.ID)})
		}
	}
	w.Header().Set("Location", s.accountURL(dir, acct.ID))
	return writeJSON(w, http.StatusOK, s.accountObject(acct))
}

type ordersList struct {
	Orders []string `json:"orders"`
}

// handleAccountOrders lists an account's orders, a page at a time with a
// Link rel="next" (RFC 8555 §7.1.2.1).
func (s *Server) handleAccountOrders(w http.ResponseWriter, r *http.Request, d *directory) error {
	dir := d.name
	req, err := s.postForAccount(r, d)
	if err != nil {
		return err
	}
	if !req.PostAsGet {
		return Malformed("the orders list is read with POST-as-GET (empty payload)")
	}
	acct := req.Account
	eventFrom(r.Context()).Account = acct.ID
	if mux.Vars(r)["id"] != acct.ID {
		return Unauthorized("an account can only list its own orders")
	}
	cursor := r.URL.Query().Get("cursor")
	ids, next, err := s.store.ListOrderIDs(r.Context(), acct.ID, storage.Page{Cursor: cursor, Limit: s.cfg.OrdersPageSize})
	if err != nil {
		if cursor != "" {
			return Malformed("the orders cursor %q is not valid", truncate(cursor, 64))
		}
		return fmt.Errorf("list orders: %w", err)
	}
	out := ordersList{Orders: make([]string, len(ids))}
	for i, id := range ids {
		out.Orders[i] = s.orderURL(dir, id)
	}
	if next != "" {
		w.Header().Add("Link", link(s.accountURL(dir, acct.ID)+"/orders?cursor="+url.QueryEscape(next), "next"))
	}
	return writeJSON(w, http.StatusOK, out)
}

// decodePayload decodes a JSON object payload strictly: unknown fields are
// accepted (RFC 8555 is extensible) but wrong types are malformed.
func decodePayload(req *authedRequest, v any) error {
	if req.PostAsGet {
		return Malformed("this request needs a JSON payload, not POST-as-GET")
	}
	if err := json.Unmarshal(req.Payload, v); err != nil {
		return Malformed("the request payload does not have the expected shape: %v", err)
	}
	return nil
}
