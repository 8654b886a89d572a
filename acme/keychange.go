package acme

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmegate/acmegate/storage"
)

type keyChangeRequest struct {
	Account string          `json:"account"`
	OldKey  json.RawMessage `json:"oldKey"`
}

// handleKeyChange rolls an account over to a new key (RFC 8555 §7.3.5).
func (s *Server) handleKeyChange(w http.ResponseWriter, r *http.Request, d *directory) error {
	dir := d.name
	outer, err := s.postForAccount(r, d)
	if err != nil {
		return err
	}
	ctx := r.Context()
	acct := outer.Account
	eventFrom(ctx).Account = acct.ID
	if outer.PostAsGet {
		return Malformed("keyChange needs an inner JWS as payload")
	}
	// The inner JWS follows the normal rules, except that it carries the
	// new key in jwk and has no nonce.
	inner, err := parseFlattened(outer.Payload)
	if err != nil {
		// The new key is an account key: a too large RSA key is refused
		// with the directory's own limit.
		return innerProblem(accountKeyProblem(d, err))
	}
	if inner.jwk == nil || inner.header.KID != "" {
		return Malformed("inner JWS must carry the new key in jwk and have no kid")
	}
	// RFC 8555 §7.3.5: "The inner JWS MUST omit the "nonce" header
	// parameter." Only the outer JWS is checked for replay.
	if inner.header.Nonce != "" {
		return Malformed("inner JWS must not carry a nonce (RFC 8555 §7.3.5)")
	}
	if inner.header.URL != outer.URL {
		return Malformed("inner JWS url %q must equal the outer url %q", truncate(inner.header.URL, 256), outer.URL)
	}
	if err := d.policy.GoodAccountKey(inner.jwk.Key); err != nil {
		return policyProblem(err)
	}
	payload, err := inner.verifyWith(inner.jwk)
	if err != nil {
		return innerProblem(err)
	}
	var body keyChangeRequest
	if err := json.Unmarshal(payload, &body); err != nil {
		return Malformed("inner JWS payload must be {\"account\", \"oldKey\"}: %v", err)
	}
	if body.Account != s.accountURL(dir, acct.ID) {
		return Unauthorized("inner JWS account %q is not the account signing the outer JWS", truncate(body.Account, 256))
	}
	oldThumb, err := thumbprint(outer.JWK)
	if err != nil {
		return err
	}
	var claimedOld jose.JSONWebKey
	if err := claimedOld.UnmarshalJSON(body.OldKey); err != nil {
		return Malformed("inner JWS oldKey is not a JSON Web Key: %v", err)
	}
	claimedThumb, err := thumbprint(&claimedOld)
	if err != nil {
		return err
	}
	if claimedThumb != oldThumb {
		return Unauthorized("inner JWS oldKey is not the account's current key")
	}
	newThumb, err := thumbprint(inner.jwk)
	if err != nil {
		return err
	}
	if newThumb == oldThumb {
		return Malformed("the new key is the account's current key")
	}
	newJWK, err := inner.jwk.MarshalJSON()
	if err != nil {
		return fmt.Errorf("encode new key: %w", err)
	}
	if err := s.store.ChangeAccountKey(ctx, acct.ID, oldThumb, newThumb, newJWK); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			// RFC 8555 §7.3.5: 409 with the Location of the account that
			// already holds the new key.
			p := Malformed("the new key is already in use by another account")
			p.Status = http.StatusConflict
			if other, gerr := s.store.GetAccountByThumbprint(ctx, dir, newThumb); gerr == nil {
				p.Location = s.accountURL(dir, other.ID)
			}
			return p
		}
		return fmt.Errorf("change account key: %w", err)
	}
	s.audit(ctx, &storage.AuditEntry{Actor: accountActor(acct.ID), Directory: dir, Action: AuditAccountKeyChange,
		Object: accountRef(acct.ID), Detail: "key " + oldThumb + " replaced by " + newThumb})
	w.Header().Set("Location", s.accountURL(dir, acct.ID))
	return writeJSON(w, http.StatusOK, s.accountObject(acct))
}

// innerProblem labels a problem of the inner JWS as such.
func innerProblem(err error) error {
	var p *Problem
	if errors.As(err, &p) {
		q := *p
		q.Detail = "inner JWS: " + p.Detail
		return &q
	}
	return err
}
