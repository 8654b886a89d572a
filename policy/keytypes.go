package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Key type names of AllowedKeyTypes, as messages spell them.
const (
	keyTypeRSA     = "RSA"
	keyTypeECDSA   = "ECDSA"
	keyTypeEd25519 = "Ed25519"
)

// keyTypes says which key types a directory accepts. Certificate keys are
// never Ed25519, whatever ed25519 says (see goodEd25519).
type keyTypes struct {
	rsa, ecdsa, ed25519 bool
}

// parseKeyTypes reads AllowedKeyTypes, all three types when it is empty, and
// folds DenyEd25519AccountKeys in.
func parseKeyTypes(names []string, denyEd25519 bool) (keyTypes, error) {
	if len(names) == 0 {
		return keyTypes{rsa: true, ecdsa: true, ed25519: !denyEd25519}, nil
	}
	var kt keyTypes
	for _, n := range names {
		switch {
		case strings.EqualFold(n, keyTypeRSA):
			kt.rsa = true
		case strings.EqualFold(n, keyTypeECDSA):
			kt.ecdsa = true
		case strings.EqualFold(n, keyTypeEd25519):
			kt.ed25519 = true
		default:
			return keyTypes{}, fmt.Errorf("policy: AllowedKeyTypes: unknown key type %q (known: RSA, ECDSA, Ed25519)", n)
		}
	}
	if kt.ed25519 && denyEd25519 {
		return keyTypes{}, errors.New("policy: AllowedKeyTypes lists Ed25519 but DenyEd25519AccountKeys refuses it; drop one of them")
	}
	if !kt.rsa && !kt.ecdsa {
		return keyTypes{}, errors.New("policy: AllowedKeyTypes must include RSA or ECDSA: certificate keys are never Ed25519")
	}
	return kt, nil
}

// allows reports whether keys of type t are accepted for use.
func (kt keyTypes) allows(t string, use keyUse) bool {
	switch t {
	case keyTypeRSA:
		return kt.rsa
	case keyTypeECDSA:
		return kt.ecdsa
	case keyTypeEd25519:
		return kt.ed25519 && use == useAccount
	}
	return false
}

// names lists the types accepted for use, for a message.
func (kt keyTypes) names(use keyUse) []string {
	var out []string
	for _, t := range []string{keyTypeRSA, keyTypeECDSA, keyTypeEd25519} {
		if kt.allows(t, use) {
			out = append(out, t)
		}
	}
	return out
}

// keyTypeAllowed refuses a key type the directory does not accept for use.
func (p *Policy) keyTypeAllowed(t string, use keyUse) *Error {
	if p.keyTypes.allows(t, use) {
		return nil
	}
	return newError(KindBadPublicKey, "%s %s keys are not allowed by this directory's policy; allowed key types: %s", t, use, strings.Join(p.keyTypes.names(use), ", "))
}
