package acme

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/acmegate/acmegate/storage"
)

// External Account Binding (RFC 8555 §7.3.4): an operator hands a team a
// key id and an HMAC key; the team's ACME client proves it holds them when
// it creates its account, which binds the account to the key.

// eabKeyBytes is the HMAC key length: 256 bits, enough for HS512 too
// (RFC 7518 §3.2 asks for at least the hash size for HS256).
const eabKeyBytes = 32

// EABKeys creates, lists and revokes EAB keys. The CLI and the admin API
// use it; the Server uses the same store and sealer to verify bindings.
type EABKeys struct {
	Store  storage.EABStore
	Sealer *Sealer
	// Clock defaults to the system clock.
	Clock Clock
}

func (k *EABKeys) now() time.Time {
	if k.Clock == nil {
		return systemClock{}.Now()
	}
	return k.Clock.Now()
}

// NewEABKey is a freshly created key: the only time its HMAC key is shown.
type NewEABKey struct {
	KeyID string
	// HMACKey is base64url without padding, as clients take it
	// (certbot --eab-hmac-key, lego --hmac).
	HMACKey   string
	ExpiresAt time.Time
}

// Create makes a key for directory dir. ttl 0 means it never expires.
func (k *EABKeys) Create(ctx context.Context, dir, label string, reusable bool, ttl time.Duration) (*NewEABKey, error) {
	if k.Sealer == nil {
		return nil, errors.New("EAB keys need a sealing key")
	}
	idBytes := make([]byte, 12)
	secret := make([]byte, eabKeyBytes)
	_, _ = rand.Read(idBytes)
	_, _ = rand.Read(secret)
	now := k.now()
	key := &storage.EABKey{
		ID:        "kid-" + base64.RawURLEncoding.EncodeToString(idBytes),
		Directory: dir,
		Label:     label,
		Reusable:  reusable,
		CreatedAt: now,
	}
	if ttl > 0 {
		key.ExpiresAt = now.Add(ttl)
	}
	key.SealedKey = k.Sealer.Seal(secret, key.ID)
	if err := k.Store.CreateEABKey(ctx, key); err != nil {
		return nil, fmt.Errorf("store EAB key: %w", err)
	}
	return &NewEABKey{KeyID: key.ID, HMACKey: base64.RawURLEncoding.EncodeToString(secret), ExpiresAt: key.ExpiresAt}, nil
}

// eabAlgs are the MAC algorithms RFC 8555 §7.3.4 allows for the binding.
var eabAlgs = map[string]func() hash.Hash{"HS256": sha256.New, "HS384": sha512.New384, "HS512": sha512.New}

// verifyEAB checks the externalAccountBinding of a newAccount request and
// returns the key id to bind (RFC 8555 §7.3.4): a flattened JWS whose
// protected header has an HS* alg, the key id as kid, the newAccount URL as
// url and no nonce, whose payload is the account's JWK, and whose MAC
// verifies with the key's HMAC key.
func (s *Server) verifyEAB(ctx context.Context, d *directory, raw json.RawMessage, outerURL string, accountKey *jose.JSONWebKey) (string, error) {
	f, h, err := parseEAB(raw)
	if err != nil {
		return "", err
	}
	newHash, ok := eabAlgs[h.Alg]
	if !ok {
		p := BadSignatureAlgorithm("externalAccountBinding must use HS256, HS384 or HS512, not %q", truncate(h.Alg, 16))
		p.Algorithms = []string{"HS256", "HS384", "HS512"}
		return "", p
	}
	if h.hasNonce {
		return "", Malformed("externalAccountBinding must not carry a nonce")
	}
	if h.URL != outerURL {
		return "", Unauthorized("externalAccountBinding url %q must be the newAccount URL %q", truncate(h.URL, 256), outerURL)
	}
	if h.KID == "" {
		return "", Malformed("externalAccountBinding has no kid")
	}
	key, err := s.store.GetEABKey(ctx, h.KID)
	if errors.Is(err, storage.ErrNotFound) || (err == nil && key.Directory != d.name) {
		return "", Unauthorized("external account key %q is not known in this directory", truncate(h.KID, 128))
	}
	if err != nil {
		return "", fmt.Errorf("read EAB key: %w", err)
	}
	now := s.clock.Now()
	switch {
	case !key.RevokedAt.IsZero():
		return "", Unauthorized("external account key %q was revoked", key.ID)
	case !key.ExpiresAt.IsZero() && !now.Before(key.ExpiresAt):
		return "", Unauthorized("external account key %q expired at %s", key.ID, timeString(key.ExpiresAt))
	case !key.Reusable && key.Bound > 0:
		return "", Unauthorized("external account key %q was already used to create an account", key.ID)
	}
	if s.cfg.Sealer == nil {
		return "", errors.New("an EAB key exists but the server has no sealing key to open it")
	}
	secret, err := s.cfg.Sealer.Open(key.SealedKey, key.ID)
	if err != nil {
		return "", fmt.Errorf("open EAB key %s: %w", key.ID, err)
	}
	sig, err := decodeBase64URL(f.Signature)
	if err != nil {
		return "", Malformed("externalAccountBinding signature is not base64url")
	}
	mac := hmac.New(newHash, secret)
	mac.Write([]byte(f.Protected + "." + f.Payload))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return "", Unauthorized("externalAccountBinding signature does not verify with key %q", key.ID)
	}
	payload, err := decodeBase64URL(f.Payload)
	if err != nil {
		return "", Malformed("externalAccountBinding payload is not base64url")
	}
	var bound jose.JSONWebKey
	if err := bound.UnmarshalJSON(payload); err != nil {
		return "", Malformed("externalAccountBinding payload is not a JSON Web Key: %v", err)
	}
	boundThumb, err := thumbprint(&bound)
	if err != nil {
		return "", err
	}
	accountThumb, err := thumbprint(accountKey)
	if err != nil {
		return "", err
	}
	if !bytes.Equal([]byte(boundThumb), []byte(accountThumb)) {
		return "", Unauthorized("externalAccountBinding binds another key than the one signing the request")
	}
	return key.ID, nil
}

// eabHeader is what verifyEAB reads of the binding's protected header.
type eabHeader struct {
	Alg, KID, URL string
	// hasNonce is true when the header names a nonce, whatever its value.
	hasNonce bool
}

// parseEAB reads the binding raw by the rules of the outer JWS
// (parseFlattened): the flattened serialization with only protected,
// payload and signature, and a protected header whose members are read by
// their exact names, each named once. json.Unmarshal into a struct would
// match names case-insensitively and take the last of duplicates, so the
// binding could be read differently by another implementation.
func parseEAB(raw []byte) (flattenedJWS, eabHeader, error) {
	var f flattenedJWS
	var h eabHeader
	fields, err := jsonMembers(raw)
	if err != nil {
		return f, h, Malformed("externalAccountBinding must be a flattened JWS (a JSON object): %v", err)
	}
	for _, m := range fields {
		switch m.name {
		case "protected", "payload", "signature":
		case "signatures":
			return f, h, Malformed("externalAccountBinding must use the flattened JSON serialization, not the general one")
		case "header":
			return f, h, Malformed("externalAccountBinding must not have an unprotected header")
		default:
			return f, h, Malformed("externalAccountBinding has an unexpected member %q", truncate(m.name, 32))
		}
	}
	for _, m := range []struct {
		name string
		dst  *string
	}{{"protected", &f.Protected}, {"payload", &f.Payload}, {"signature", &f.Signature}} {
		if v, ok := fields.get(m.name); ok {
			if err := unmarshalString(v, m.dst); err != nil {
				return f, h, Malformed("externalAccountBinding member %q must be a string", m.name)
			}
		}
	}
	if _, ok := fields.get("payload"); !ok || f.Protected == "" || f.Signature == "" {
		return f, h, Malformed("externalAccountBinding must be a flattened JWS with protected, payload and signature")
	}
	hdrJSON, err := decodeBase64URL(f.Protected)
	if err != nil {
		return f, h, Malformed("externalAccountBinding protected header is not base64url")
	}
	hdr, err := jsonMembers(hdrJSON)
	if err != nil {
		return f, h, Malformed("externalAccountBinding protected header is not a JSON object: %v", err)
	}
	for _, k := range []string{"x5c", "x5u", "jku", "crit", "b64"} {
		// As for the outer JWS: a crit or b64 would change what the MAC
		// covers, and certificate-carried keys have no place in a MAC.
		if _, ok := hdr.get(k); ok {
			return f, h, Malformed("externalAccountBinding protected header must not contain %q", k)
		}
	}
	for _, m := range []struct {
		name string
		dst  *string
	}{{"alg", &h.Alg}, {"kid", &h.KID}, {"url", &h.URL}} {
		if v, ok := hdr.get(m.name); ok {
			if err := unmarshalString(v, m.dst); err != nil {
				return f, h, Malformed("externalAccountBinding protected header member %q must be a string", m.name)
			}
		}
	}
	_, h.hasNonce = hdr.get("nonce")
	return f, h, nil
}
