package validation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// caaCritical is the Issuer Critical Flag: bit 0 of the flags octet in
// RFC 1035 numbering, the most significant bit (RFC 8659 §4.1).
const caaCritical = 0x80

// Property tags this CA understands (RFC 8659 §4.2–§4.4).
const (
	caaIssue     = "issue"
	caaIssueWild = "issuewild"
	caaIodef     = "iodef"
)

// RFC 8657 parameters of issue and issuewild properties.
const (
	caaAccountURI        = "accounturi"
	caaValidationMethods = "validationmethods"
)

// CAARequest asks whether the CAA records of a name let this CA issue.
type CAARequest struct {
	// Identifier is the DNS name; for a wildcard certificate the base
	// domain, without "*.". An IP address has no CAA records: CheckCAA
	// allows it without a lookup.
	Identifier string
	// Wildcard says the certificate will hold "*." + Identifier, so
	// issuewild properties apply (RFC 8659 §4.3).
	Wildcard bool
	// Identities are this CA's issuer domain names, as in the directory's
	// meta caaIdentities (RFC 8555 §7.1.1), such as "acme.example.com".
	// Empty means CAA is not checked at all: CheckCAA returns nil without a
	// lookup. Blank entries never match, not even the empty issuer of
	// `issue ";"`.
	Identities []string
	// AccountURI is the ACME account URL, matched exactly against the
	// accounturi parameter (RFC 8657 §3).
	AccountURI string
	// Method is the validation method that proved control, such as
	// ChallengeHTTP01, matched against the validationmethods parameter
	// (RFC 8657 §4).
	Method string
}

// CheckCAA reports whether the CAA records of r.Identifier let this CA
// issue (RFC 8659, with the RFC 8657 accounturi and validationmethods
// parameters). It is meant to run after the challenge succeeded, bounded by
// ctx and Config.Timeout. It returns nil when issuance is allowed (no CAA
// record on the name or any ancestor, or one that names this CA), an *Error
// of KindCAA when the records forbid it, of KindDNS when a lookup failed
// (the check fails closed) and of KindMalformed when r.Identifier is not a
// DNS name.
func (v *Validator) CheckCAA(ctx context.Context, r CAARequest) error {
	start := time.Now()
	err := v.checkCAA(ctx, r)
	attrs := []slog.Attr{
		slog.String("identifier", r.Identifier),
		slog.Bool("wildcard", r.Wildcard),
		slog.String("method", r.Method),
		slog.Duration("took", time.Since(start)),
	}
	if err != nil {
		attrs = append(attrs, slog.Any("error", err))
		v.log.LogAttrs(ctx, slog.LevelDebug, "CAA check refused issuance", attrs...)
		return err
	}
	v.log.LogAttrs(ctx, slog.LevelDebug, "CAA check allowed issuance", attrs...)
	return nil
}

func (v *Validator) checkCAA(ctx context.Context, r CAARequest) *Error {
	if len(r.Identities) == 0 {
		return nil
	}
	name := strings.ToLower(strings.TrimSuffix(r.Identifier, "."))
	if _, err := netip.ParseAddr(name); err == nil {
		return nil // RFC 8659 defines CAA for domain names only.
	}
	if strings.Contains(name, "*") {
		return failf(KindMalformed, nil, "CAA: identifier %q must not contain a wildcard label; pass the base domain and Wildcard", r.Identifier)
	}
	if _, ok := dns.IsDomainName(name); !ok || name == "" || len(name) > 253 || strings.ContainsAny(name, "/:@ \\") {
		return failf(KindMalformed, nil, "CAA: %q is not a valid DNS name", r.Identifier)
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	set, ferr := v.relevantCAASet(ctx, name)
	if ferr != nil || set == nil {
		return ferr
	}
	return set.authorize(r)
}

// caaSet is a Relevant RRset (RFC 8659 §3).
type caaSet struct {
	identifier string // the name CAA was checked for
	name       string // the name whose query returned the records
	owner      string // their owner: name, or the end of name's CNAME chain
	records    []*dns.CAA
}

// relevantCAASet finds the Relevant RRset of name, or nil when there is
// none (RFC 8659 §3):
//
//	RelevantCAASet(domain):
//	  while domain is not ".":
//	    if CAA(domain) is not Empty:
//	      return CAA(domain)
//	    domain = Parent(domain)
//	  return Empty
//
// CAA(domain) is an ordinary DNS query, CNAMEs included, which the
// Resolver follows.
func (v *Validator) relevantCAASet(ctx context.Context, name string) (*caaSet, *Error) {
	for domain := name; domain != ""; domain = parentDomain(domain) {
		rrs, err := v.resolver.Lookup(ctx, domain, dns.TypeCAA)
		switch {
		case errors.Is(err, ErrNXDomain):
			continue // a name that does not exist (or an alias to one) has no CAA
		case err != nil:
			// A record hidden by the failure might forbid issuance, so the
			// check fails closed. The CA/B Forum Baseline Requirements
			// (§3.2.2.8) allow treating a lookup failure as permission only
			// under conditions (retries, no DNSSEC chain) not checked here.
			return nil, failf(KindDNS, err, "CAA lookup of %s failed, so issuance cannot be allowed: %s", domain, resolveDetail(err))
		}
		set := &caaSet{identifier: name, name: domain}
		for _, rr := range rrs {
			if c, ok := rr.(*dns.CAA); ok {
				set.records = append(set.records, c)
				set.owner = strings.ToLower(strings.TrimSuffix(c.Hdr.Name, "."))
			}
		}
		if len(set.records) > 0 {
			return set, nil
		}
	}
	return nil, nil
}

// parentDomain returns name without its first label, "" for a top-level
// domain (the root is never queried).
func parentDomain(name string) string {
	_, parent, _ := strings.Cut(name, ".")
	return parent
}

// caaProperty is a parsed issue or issuewild property.
type caaProperty struct {
	value  string // as published
	issuer string // issuer-domain-name, lowercase; "" authorizes no one
	params []caaParam
	err    error // the value does not follow the issue-value syntax
}

type caaParam struct{ tag, value string }

// authorize applies RFC 8659 §4 to the set for request r.
func (s *caaSet) authorize(r CAARequest) *Error {
	var issue, issueWild []*dns.CAA
	for _, c := range s.records {
		// RFC 8659 §4.1: "Matching of tags is case insensitive."
		switch strings.ToLower(c.Tag) {
		case caaIssue:
			issue = append(issue, c)
		case caaIssueWild:
			issueWild = append(issueWild, c)
		case caaIodef:
			// Understood (this CA sends no reports), so critical or not it
			// does not stop issuance.
		default:
			// RFC 8659 §4.1: "A CA MUST NOT issue certificates for any
			// FQDN if the Relevant RRset for that FQDN contains a CAA
			// critical Property for an unknown or unsupported Property
			// Tag." Non-critical unknown properties are ignored.
			if c.Flag&caaCritical != 0 {
				return failf(KindCAA, nil, "%s has the critical property %s (flags %d) that this CA does not understand, which forbids issuance",
					s.subject("CAA record"), quote(c.Tag), c.Flag)
			}
		}
	}
	// RFC 8659 §4.3: "Each issuewild Property MUST be ignored when
	// processing a request for an FQDN that is not a Wildcard Domain Name"
	// and "If at least one issuewild Property is specified in the Relevant
	// RRset for a Wildcard Domain Name, each issue Property MUST be ignored
	// when processing a request for that Wildcard Domain Name."
	considered, tag := issue, caaIssue
	if r.Wildcard && len(issueWild) > 0 {
		considered, tag = issueWild, caaIssueWild
	}
	// RFC 8659 §4.2: with no issue property (and for a wildcard no
	// issuewild property either) the records restrict nobody.
	if len(considered) == 0 {
		return nil
	}
	identities := normalizeIdentities(r.Identities)
	var props []caaProperty
	var refusal string // why a property naming this CA did not authorize
	for _, c := range considered {
		p := parseIssueValue(c.Value)
		props = append(props, p)
		if p.issuer == "" || !slices.Contains(identities, p.issuer) {
			continue
		}
		why := p.refuses(r)
		if why == "" {
			return nil
		}
		if refusal == "" {
			refusal = "allows " + quote(p.issuer) + " to issue " + why
		}
	}
	return s.refuse(tag, props, identities, refusal)
}

// refuses says why property p, which names this CA, does not authorize
// request r, or "" when it does.
func (p caaProperty) refuses(r CAARequest) string {
	if p.err != nil {
		return fmt.Sprintf("but its value %s is malformed (%v)", quote(p.value), p.err)
	}
	for _, param := range p.params {
		switch param.tag {
		case caaAccountURI:
			// RFC 8657 §3: the property authorizes issuance only for the
			// account with this URI.
			if param.value != r.AccountURI {
				return fmt.Sprintf("only for account %s; this account is %s", quote(param.value), quote(r.AccountURI))
			}
		case caaValidationMethods:
			// RFC 8657 §4: the property authorizes issuance only when one
			// of the listed methods proved control.
			methods := strings.Split(param.value, ",")
			for _, m := range methods {
				if !isCAALabel(m, true) {
					return fmt.Sprintf("but its validationmethods %s is malformed", quote(param.value))
				}
			}
			if !slices.Contains(methods, r.Method) {
				return fmt.Sprintf("only after validation by %s; this validation used %s", quote(param.value), quote(r.Method))
			}
		}
		// Other parameters carry CA-specific meaning this CA does not
		// give them; they are ignored.
	}
	return ""
}

// refuse builds the KindCAA failure for a set whose tag properties props
// name no identity, or name one but do not authorize, as refusal says.
func (s *caaSet) refuse(tag string, props []caaProperty, identities []string, refusal string) *Error {
	subject := "CAA record"
	if tag == caaIssueWild {
		subject = "CAA issuewild record"
	}
	if refusal != "" {
		return failf(KindCAA, nil, "%s %s", s.subject(subject), refusal)
	}
	var issuers []string
	for _, p := range props {
		if p.issuer != "" && !slices.Contains(issuers, p.issuer) {
			issuers = append(issuers, p.issuer)
		}
	}
	if len(props) > 1 {
		subject += "s"
	}
	what := "to issue"
	if tag == caaIssueWild {
		what = "to issue wildcard certificates"
	}
	if len(issuers) == 0 {
		// RFC 8659 §4.2: an issue property without an issuer domain name
		// (`issue ";"`) authorizes no CA.
		return failf(KindCAA, nil, "%s forbid%s every CA %s (%s %s)",
			s.subject(subject), verbS(len(props)), what, tag, listQuoted(values(props)))
	}
	var self string
	switch len(identities) {
	case 0:
		self = "configured without a CAA identity"
	case 1:
		self = quote(identities[0])
	default:
		self = "any of " + listQuoted(identities)
	}
	return failf(KindCAA, nil, "%s allow%s only %s %s; this CA is %s",
		s.subject(subject), verbS(len(props)), listQuoted(issuers), what, self)
}

// subject names the records in a Detail: where they were found, through
// which alias, for which name.
func (s *caaSet) subject(what string) string {
	out := what + " for " + s.name
	if s.owner != "" && s.owner != s.name {
		out += " (alias of " + s.owner + ")"
	}
	if s.name != s.identifier {
		out += ", inherited by " + s.identifier + ","
	}
	return out
}

// parseIssueValue parses an issue or issuewild value (RFC 8659 §4.2):
//
//	issue-value = *WSP [issuer-domain-name *WSP]
//	   [";" *WSP [parameters *WSP]]
//	parameters = (parameter *WSP ";" *WSP parameters) / parameter
//	parameter = tag *WSP "=" *WSP value
//	value = *(%x21-3A / %x3C-7E)
//
// A malformed value keeps the issuer it names, so that it still restricts
// issuance and the Detail can show it, but it authorizes no one. Parameter
// tags are compared case-insensitively, like property tags; an empty
// parameter between semicolons is tolerated.
func parseIssueValue(value string) caaProperty {
	p := caaProperty{value: value}
	issuer, rest, hasParams := strings.Cut(value, ";")
	p.issuer = strings.ToLower(trimWSP(issuer))
	if p.issuer != "" && !isIssuerDomainName(p.issuer) {
		p.err = fmt.Errorf("issuer %q is not a domain name", p.issuer)
		return p
	}
	if !hasParams {
		return p
	}
	for _, part := range strings.Split(rest, ";") {
		part = trimWSP(part)
		if part == "" {
			continue
		}
		tag, val, ok := strings.Cut(part, "=")
		tag, val = trimWSP(tag), trimWSP(val)
		switch {
		case !ok:
			p.err = fmt.Errorf("parameter %q is not tag=value", part)
		case !isCAALabel(tag, false):
			p.err = fmt.Errorf("parameter tag %q is not letters, digits and inner hyphens", tag)
		case strings.IndexFunc(val, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0:
			p.err = fmt.Errorf("parameter %s has a space or a non-ASCII character in its value", tag)
		}
		if p.err != nil {
			return p
		}
		p.params = append(p.params, caaParam{tag: strings.ToLower(tag), value: val})
	}
	return p
}

// isIssuerDomainName reports whether s is label *("." label) (RFC 8659
// §4.2).
func isIssuerDomainName(s string) bool {
	for label := range strings.SplitSeq(s, ".") {
		if len(label) > 63 || !isCAALabel(label, false) {
			return false
		}
	}
	return true
}

// isCAALabel reports whether s is (ALPHA / DIGIT) *( *("-") (ALPHA /
// DIGIT)), the shape of issuer labels and parameter tags; with
// edgeHyphens, hyphens may also lead and trail, as in validationmethods
// labels 1*(ALPHA / DIGIT / "-") (RFC 8657 §4).
func isCAALabel(s string, edgeHyphens bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' && (edgeHyphens || (i > 0 && i < len(s)-1)):
		default:
			return false
		}
	}
	return true
}

func trimWSP(s string) string { return strings.Trim(s, " \t") }

// normalizeIdentities lowercases the identities and drops blank ones, which
// must not match the empty issuer of `issue ";"`.
func normalizeIdentities(ids []string) []string {
	var out []string
	for _, id := range ids {
		id = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(id), "."))
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

func values(props []caaProperty) []string {
	var out []string
	for _, p := range props {
		out = append(out, p.value)
	}
	return out
}

// verbS is the third-person "s" of a verb whose subject counts n records.
func verbS(n int) string {
	if n == 1 {
		return "s"
	}
	return ""
}
