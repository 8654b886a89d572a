package acme

import (
	"encoding/json"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// Wire types: the JSON objects of RFC 8555 §7.1, built from storage rows.

type directoryObject struct {
	NewNonce   string `json:"newNonce"`
	NewAccount string `json:"newAccount"`
	NewOrder   string `json:"newOrder"`
	NewAuthz   string `json:"newAuthz"`
	RevokeCert string `json:"revokeCert"`
	KeyChange  string `json:"keyChange"`
	// RenewalInfo is the ARI endpoint (RFC 9773 §4).
	RenewalInfo string `json:"renewalInfo"`
	Meta        *Meta  `json:"meta,omitempty"`
}

type accountObject struct {
	Status      storage.Status `json:"status"`
	Contact     []string       `json:"contact,omitempty"`
	TermsAgreed bool           `json:"termsOfServiceAgreed,omitempty"`
	Orders      string         `json:"orders"`
}

type orderObject struct {
	Status         storage.Status `json:"status"`
	Expires        string         `json:"expires,omitempty"`
	Identifiers    []Identifier   `json:"identifiers"`
	NotBefore      string         `json:"notBefore,omitempty"`
	NotAfter       string         `json:"notAfter,omitempty"`
	Error          *Problem       `json:"error,omitempty"`
	Authorizations []string       `json:"authorizations"`
	Finalize       string         `json:"finalize"`
	Certificate    string         `json:"certificate,omitempty"`
	Profile        string         `json:"profile,omitempty"`
	Replaces       string         `json:"replaces,omitempty"`
}

type authzObject struct {
	Identifier Identifier        `json:"identifier"`
	Status     storage.Status    `json:"status"`
	Expires    string            `json:"expires,omitempty"`
	Challenges []challengeObject `json:"challenges"`
	Wildcard   bool              `json:"wildcard,omitempty"`
}

type challengeObject struct {
	Type      storage.ChallengeType `json:"type"`
	URL       string                `json:"url"`
	Status    storage.Status        `json:"status"`
	Token     string                `json:"token"`
	Validated string                `json:"validated,omitempty"`
	Error     *Problem              `json:"error,omitempty"`
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func wireIdentifiers(ids []storage.Identifier) []Identifier {
	out := make([]Identifier, len(ids))
	for i, id := range ids {
		out[i] = Identifier{Type: string(id.Type), Value: id.Value}
	}
	return out
}

// decodeProblem reads a stored problem document; a corrupt one is reported
// as a generic internal problem rather than failing the whole read.
func decodeProblem(b []byte) *Problem {
	if len(b) == 0 {
		return nil
	}
	var p Problem
	if err := json.Unmarshal(b, &p); err != nil {
		return &Problem{Type: ProblemServerInternal, Detail: "the stored error could not be read"}
	}
	return &p
}

func (s *Server) accountObject(a *storage.Account) accountObject {
	return accountObject{
		Status:      a.Status,
		Contact:     a.Contact,
		TermsAgreed: a.TermsAgreed,
		Orders:      s.accountURL(a.Directory, a.ID) + "/orders",
	}
}

func (s *Server) orderObject(o *storage.Order, authzs []*storage.Authorization, now time.Time) orderObject {
	st := orderStatus(o, authzs, now)
	obj := orderObject{
		Status:         st,
		Expires:        timeString(o.Expires),
		Identifiers:    wireIdentifiers(o.Identifiers),
		NotBefore:      timeString(o.NotBefore),
		NotAfter:       timeString(o.NotAfter),
		Error:          decodeProblem(o.Error),
		Authorizations: make([]string, len(o.AuthzIDs)),
		Finalize:       s.orderURL(o.Directory, o.ID) + "/finalize",
		Profile:        o.Profile,
		Replaces:       o.Replaces,
	}
	for i, id := range o.AuthzIDs {
		obj.Authorizations[i] = s.authzURL(o.Directory, id)
	}
	if o.CertificateID != "" && st == storage.StatusValid {
		obj.Certificate = s.certURL(o.Directory, o.CertificateID)
	}
	if st == storage.StatusInvalid && obj.Error == nil {
		obj.Error = derivedOrderError(o, authzs, now)
	}
	return obj
}

// derivedOrderError explains an order that became invalid through its
// authorizations or its expiry, which storage does not record as an error.
func derivedOrderError(o *storage.Order, authzs []*storage.Authorization, now time.Time) *Problem {
	var sub []*Problem
	for _, a := range authzs {
		if st := authzStatus(a, now); st != storage.StatusValid && st != storage.StatusPending {
			p := Unauthorized("authorization for %s is %s", a.Identifier.Value, st)
			for _, c := range a.Challenges {
				if cp := decodeProblem(c.Error); cp != nil {
					p = cp
				}
			}
			sub = append(sub, p.WithIdentifier(string(a.Identifier.Type), displayName(a)))
		}
	}
	if len(sub) > 0 {
		p := Unauthorized("the order cannot be finalized: %d of its authorizations failed", len(sub))
		return p.WithSubproblems(sub...)
	}
	if !now.Before(o.Expires) {
		return Malformed("the order expired at %s", timeString(o.Expires))
	}
	return nil
}

func displayName(a *storage.Authorization) string {
	if a.Wildcard {
		return "*." + a.Identifier.Value
	}
	return a.Identifier.Value
}

func (s *Server) authzObject(a *storage.Authorization, now time.Time) authzObject {
	obj := authzObject{
		Identifier: Identifier{Type: string(a.Identifier.Type), Value: a.Identifier.Value},
		Status:     authzStatus(a, now),
		Expires:    timeString(a.Expires),
		Challenges: make([]challengeObject, 0, len(a.Challenges)),
		Wildcard:   a.Wildcard,
	}
	for i := range a.Challenges {
		c := &a.Challenges[i]
		// RFC 8555 §7.1.4: a valid authorization lists only the challenge
		// that was used.
		if obj.Status == storage.StatusValid && c.Status != storage.StatusValid && hasValid(a) {
			continue
		}
		obj.Challenges = append(obj.Challenges, s.challengeObject(a.Directory, c))
	}
	return obj
}

func hasValid(a *storage.Authorization) bool {
	for _, c := range a.Challenges {
		if c.Status == storage.StatusValid {
			return true
		}
	}
	return false
}

func (s *Server) challengeObject(dir string, c *storage.Challenge) challengeObject {
	return challengeObject{
		Type:      c.Type,
		URL:       s.challengeURL(dir, c.ID),
		Status:    c.Status,
		Token:     c.Token,
		Validated: timeString(c.Validated),
		Error:     decodeProblem(c.Error),
	}
}
