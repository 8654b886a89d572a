package validation

import (
	"crypto/sha256"
	"encoding/base64"
)

// KeyAuthorization returns the key authorization for a challenge token and
// the account key's JWK thumbprint (RFC 8555 §8.1):
//
//	keyAuthorization = token || '.' || base64url(Thumbprint(accountKey))
//
// thumbprint is the already base64url-encoded RFC 7638 SHA-256 thumbprint.
func KeyAuthorization(token, thumbprint string) string {
	return token + "." + thumbprint
}

// DNS01Value returns the TXT record value a dns-01 challenge expects: the
// unpadded base64url SHA-256 digest of the key authorization
// (RFC 8555 §8.4).
func DNS01Value(keyAuth string) string {
	sum := sha256.Sum256([]byte(keyAuth))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
