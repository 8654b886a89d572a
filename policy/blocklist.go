package policy

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
)

// SPKIHash returns the lower-case hex SHA-256 of the DER SubjectPublicKeyInfo
// (RFC 5280 §4.1.2.7) of pub: the form of a BlockedKeys entry. It is the
// same digest as `openssl pkey -pubin -outform DER | sha256sum`. pub may be
// an RSA or ECDSA key by pointer or by value, or an Ed25519 key.
func SPKIHash(pub crypto.PublicKey) (string, error) {
	sum, err := spkiSum(pub)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(sum[:]), nil
}

func spkiSum(pub crypto.PublicKey) ([sha256.Size]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pointerKey(pub))
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("policy: encoding the SubjectPublicKeyInfo: %w", err)
	}
	return sha256.Sum256(der), nil
}

// parseBlockedKeys reads the BlockedKeys entries.
func parseBlockedKeys(entries []string) (map[[sha256.Size]byte]bool, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	out := make(map[[sha256.Size]byte]bool, len(entries))
	for _, e := range entries {
		b, err := hex.DecodeString(strings.ToLower(e))
		if err != nil || len(b) != sha256.Size {
			return nil, fmt.Errorf("policy: BlockedKeys: %q is not a SHA-256 in hex (64 hex digits); compute entries with SPKIHash", e)
		}
		out[[sha256.Size]byte(b)] = true
	}
	return out, nil
}

// notBlocked refuses a key on the directory's blocklist. It runs after the
// type's own checks, so the key is known to be encodable; one that still is
// not is refused, since it cannot be shown to be off the list.
func (p *Policy) notBlocked(pub crypto.PublicKey, use keyUse) *Error {
	if len(p.blockedKeys) == 0 {
		return nil
	}
	sum, err := spkiSum(pub)
	if err != nil {
		return newError(KindBadPublicKey, "the %s key cannot be encoded as a SubjectPublicKeyInfo", use)
	}
	if p.blockedKeys[sum] {
		return newError(KindBadPublicKey, "the key is on the blocklist of compromised keys")
	}
	return nil
}
