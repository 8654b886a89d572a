package policy

import "strings"

// PreValidated reports whether id needs no challenge because it is one of
// the directory's PreValidatedDomains or under one, and names that domain
// (the most specific one when several cover id), for the order's timeline:
// "pre-validated by example.com". A wildcard identifier is judged by its
// base: "*.example.com" is covered by "example.com", since control of a
// domain is what a wildcard authorization proves (RFC 8555 §7.1.3). IP
// identifiers are never covered: the list holds domains, and there is no
// CIDR form of it.
//
// id is expected in the form CheckIdentifiers returns; PreValidated does not
// decide whether the directory issues for id at all.
func (p *Policy) PreValidated(id Identifier) (domain string, ok bool) {
	if id.Type != TypeDNS || p.preValidated.empty() {
		return "", false
	}
	base, _ := cutWildcard(strings.ToLower(id.Value))
	return p.preValidated.covering(base)
}

// SkipsValidation reports whether the directory is a private one that never
// requires validation (Config.SkipValidation): every authorization is
// created valid.
func (p *Policy) SkipsValidation() bool { return p.skipValidation }
