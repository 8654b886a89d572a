package main

// The rows `acmebench seed` writes, shaped like those acmegate writes for
// http-01 issuances from its local CA (compared field by field with a
// database that served acmebench):
//
//   - accounts (N/100 by default) created in the 30 days before the
//     window, 2 % deactivated, 70 % with an e-mail contact; the orders
//     are spread over them by a Zipf law, so a few accounts hold most;
//   - N orders created at an even rate over the window (90 days) before
//     now, each for one name (2 % wildcards), with one authorization and
//     its challenges (http-01, dns-01, tls-alpn-01; dns-01 alone for a
//     wildcard):
//     90 % valid with their certificate (1 % of those since revoked),
//     4 % whose validation failed (challenge and authorization invalid,
//     order still pending as stored), 3.5 % abandoned (all pending,
//     expired on read once a week old), 1.5 % validated but never
//     finalized, 1 % whose issuance failed (order invalid);
//   - N certificates: one per valid order, signed by a seed CA whose
//     intermediate and root make the chain and its alternate as the local
//     CA's do (leaf + intermediate, leaf + intermediate + root), valid 90
//     days from their issuance, so that they expire over the next 90 days;
//     the rest (one per order that is not valid) are imported
//     certificates without account or order, some already expired;
//   - the timeline events and audit entries acmegate writes for each of
//     these (created, validated, finalize-requested, issued, downloaded;
//     order.create, challenge.validate, certificate.issue).

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// Shapes of the seeded data.
const (
	seedProfile  = "default"
	seedBackend  = "local"
	seedValidity = 2160 * time.Hour // the local CA's default
	// seedBackdate is how far the local CA backdates a leaf's notBefore.
	seedBackdate = time.Minute
	// seedOrderLifetime and seedAuthzLifetime are acmegate's defaults.
	seedOrderLifetime = 7 * 24 * time.Hour
	seedAuthzLifetime = 7 * 24 * time.Hour
	// seedKeys leaf keys are shared by all certificates: a key per
	// certificate would double the CPU the seed spends and change nothing
	// stored but the key bits.
	seedKeys = 256
)

// Kinds of seeded orders, with their share in thousandths.
type orderKind int

const (
	kindValid orderKind = iota
	kindValidationFailed
	kindAbandoned
	kindReady
	kindIssueFailed
)

var kindShares = []struct {
	kind     orderKind
	permille int
}{{kindValid, 900}, {kindValidationFailed, 40}, {kindAbandoned, 35}, {kindReady, 15}, {kindIssueFailed, 10}}

// seedPlan is everything fixed before the batches are made.
type seedPlan struct {
	o       *seedOptions
	started time.Time
	// start and end bound the orders' creation; end is a minute before
	// now so that every later step of an order is in the past too.
	start, end time.Time
	master     [32]byte
	accounts   []*storage.Account
	clientIPs  []string
	keys       []*ecdsa.PrivateKey
	inter      *x509.Certificate
	interKey   *ecdsa.PrivateKey
	interPEM   []byte
	rootPEM    []byte
}

// seedBatch is one transaction's worth of rows.
type seedBatch struct {
	index  int
	authzs []*storage.Authorization
	orders []*storage.Order
	certs  []*storage.Certificate
	events []*storage.OrderEvent
	audit  []*storage.AuditEntry
	err    error
}

func newSeedPlan(o *seedOptions, now time.Time) (*seedPlan, error) {
	p := &seedPlan{o: o, started: now}
	p.end = now.Add(-time.Minute).UTC()
	p.start = p.end.Add(-o.window)
	if _, err := rand.Read(p.master[:]); err != nil {
		return nil, err
	}
	if err := p.makeCA(); err != nil {
		return nil, fmt.Errorf("seed CA: %w", err)
	}
	for range seedKeys {
		k, err := newP256()
		if err != nil {
			return nil, err
		}
		p.keys = append(p.keys, k)
	}
	r := p.rng(-1)
	accountsFrom := p.start.Add(-30 * 24 * time.Hour)
	step := 30 * 24 * time.Hour / time.Duration(o.accounts)
	for i := range o.accounts {
		k, err := newP256()
		if err != nil {
			return nil, err
		}
		thumb, jwk, err := jwkThumbprint(&k.PublicKey)
		if err != nil {
			return nil, err
		}
		created := accountsFrom.Add(time.Duration(i)*step + time.Duration(r.Int64N(int64(step)))).Truncate(time.Microsecond)
		a := &storage.Account{
			ID: uuidFrom(r), Directory: o.directory, Status: storage.StatusValid, Contact: []string{},
			TermsAgreed: true, KeyThumbprint: thumb, KeyJWK: jwk, CreatedAt: created, UpdatedAt: created,
		}
		if r.IntN(100) < 70 {
			a.Contact = []string{fmt.Sprintf("mailto:pki@t%d.seed.example", i)}
		}
		if r.IntN(100) < 2 {
			a.Status = storage.StatusDeactivated
			a.UpdatedAt = p.end.Add(-time.Duration(r.Int64N(int64(7 * 24 * time.Hour)))).Truncate(time.Microsecond)
		}
		p.accounts = append(p.accounts, a)
		p.clientIPs = append(p.clientIPs, fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	return p, nil
}

// makeCA makes the seed hierarchy: a root and an intermediate, P-256, as
// the local CA's.
func (p *seedPlan) makeCA() error {
	rootKey, err := newP256()
	if err != nil {
		return err
	}
	if p.interKey, err = newP256(); err != nil {
		return err
	}
	nb, na := p.start.Add(-365*24*time.Hour), p.end.Add(10*365*24*time.Hour)
	rootT := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "acmebench seed Root CA"},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootT, rootT, &rootKey.PublicKey, rootKey)
	if err != nil {
		return err
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return err
	}
	interT := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "acmebench seed Intermediate CA"},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	interDER, err := x509.CreateCertificate(rand.Reader, interT, root, &p.interKey.PublicKey, rootKey)
	if err != nil {
		return err
	}
	if p.inter, err = x509.ParseCertificate(interDER); err != nil {
		return err
	}
	p.rootPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})
	p.interPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: interDER})
	return nil
}

// rng is the random source of batch i (-1: the plan's own), derived from
// the plan's master seed so batches made in any order are independent.
func (p *seedPlan) rng(i int) *mrand.Rand {
	var in [40]byte
	copy(in[:], p.master[:])
	binary.BigEndian.PutUint64(in[32:], uint64(int64(i)))
	return mrand.New(mrand.NewChaCha8(sha256.Sum256(in[:])))
}

// accountRows returns the accounts and their account.create entries.
func (p *seedPlan) accountRows() ([]*storage.Account, []*storage.AuditEntry) {
	audit := make([]*storage.AuditEntry, len(p.accounts))
	for i, a := range p.accounts {
		audit[i] = &storage.AuditEntry{
			At: a.CreatedAt, Actor: "account:" + a.ID, Directory: a.Directory, Action: "account.create",
			Object: "account:" + a.ID, Outcome: storage.OutcomeSuccess, ClientIP: p.clientIPs[i],
			Detail: "key " + a.KeyThumbprint,
		}
	}
	return p.accounts, audit
}

// batch makes batch i: orders [i*batch, min((i+1)*batch, n)).
func (p *seedPlan) batch(i int) *seedBatch {
	b := &seedBatch{index: i}
	r := p.rng(i)
	zipf := mrand.NewZipf(r, 1.1, 8, uint64(len(p.accounts)-1))
	lo, hi := i*p.o.batch, min((i+1)*p.o.batch, p.o.n)
	span := float64(p.end.Sub(p.start))
	for n := lo; n < hi; n++ {
		created := p.start.Add(time.Duration(span * (float64(n) + r.Float64()) / float64(p.o.n))).Truncate(time.Microsecond)
		acct := int(zipf.Uint64())
		if err := p.order(b, r, n, acct, created); err != nil {
			b.err = fmt.Errorf("order %d: %w", n, err)
			return b
		}
	}
	// The audit trail and the timelines are in time order, as written.
	slices.SortStableFunc(b.audit, func(x, y *storage.AuditEntry) int { return x.At.Compare(y.At) })
	slices.SortStableFunc(b.events, func(x, y *storage.OrderEvent) int { return x.At.Compare(y.At) })
	return b
}

// order adds order n of account acct, created at created, with what goes
// with it, to b.
func (p *seedPlan) order(b *seedBatch, r *mrand.Rand, n, acct int, created time.Time) error {
	account := p.accounts[acct]
	ip := p.clientIPs[acct]
	kind := pickKind(r)
	wildcard := r.IntN(100) < 2
	base := fmt.Sprintf("h%d.t%d.seed.example", n, acct)
	name := base
	if wildcard {
		name = "*." + base
	}
	actor := "account:" + account.ID
	dir := p.o.directory
	// after returns t plus a random delay in [lo, hi).
	after := func(t time.Time, lo, hi time.Duration) time.Time {
		return t.Add(lo + time.Duration(r.Int64N(int64(hi-lo)))).Truncate(time.Microsecond)
	}

	a := &storage.Authorization{
		ID: uuidFrom(r), Directory: dir, AccountID: account.ID,
		Identifier: storage.Identifier{Type: storage.IdentifierDNS, Value: base}, Wildcard: wildcard,
		Status: storage.StatusPending, Expires: created.Add(seedAuthzLifetime), CreatedAt: created, UpdatedAt: created,
	}
	types := []storage.ChallengeType{storage.ChallengeHTTP01, storage.ChallengeDNS01, storage.ChallengeTLSALPN01}
	if wildcard {
		types = types[1:2]
	}
	for _, t := range types {
		a.Challenges = append(a.Challenges, storage.Challenge{
			ID: uuidFrom(r), AuthzID: a.ID, Type: t, Status: storage.StatusPending, Token: token(r), UpdatedAt: created,
		})
	}
	o := &storage.Order{
		ID: uuidFrom(r), Directory: dir, AccountID: account.ID, Status: storage.StatusPending,
		Expires: created.Add(seedOrderLifetime), Identifiers: []storage.Identifier{{Type: storage.IdentifierDNS, Value: name}},
		AuthzIDs: []string{a.ID}, Profile: seedProfile, CreatedAt: created, UpdatedAt: created,
	}
	b.authzs = append(b.authzs, a)
	b.orders = append(b.orders, o)
	b.events = append(b.events, &storage.OrderEvent{OrderID: o.ID, At: created, Kind: "created", Actor: actor, Detail: name, RequestID: requestID(r)})
	b.audit = append(b.audit, &storage.AuditEntry{At: created, Actor: actor, Directory: dir, Action: "order.create",
		Object: "order:" + o.ID, Outcome: storage.OutcomeSuccess, ClientIP: ip, Detail: name + "; profile " + seedProfile})

	if kind == kindAbandoned {
		return p.importCert(b, r, n, acct, created)
	}
	// The client answered the first challenge it could (http-01, or dns-01
	// for a wildcard).
	ch := &a.Challenges[0]
	validated := after(created, 200*time.Millisecond, 3*time.Second)
	ch.UpdatedAt, a.UpdatedAt = validated, validated
	audit := &storage.AuditEntry{At: validated, Actor: "system", Directory: dir, Action: "challenge.validate",
		Object: "challenge:" + ch.ID, Outcome: storage.OutcomeSuccess,
		Detail: fmt.Sprintf("%s for %s (account %s)", ch.Type, name, account.ID)}
	b.audit = append(b.audit, audit)
	if kind == kindValidationFailed {
		prob, err := json.Marshal(seedProblem{
			Type:   "urn:ietf:params:acme:error:connection",
			Detail: fmt.Sprintf("%s: connection to %s refused", ch.Type, base), Status: 400,
			Identifier: &storage.Identifier{Type: storage.IdentifierDNS, Value: base},
		})
		if err != nil {
			return err
		}
		ch.Status, ch.Error, a.Status = storage.StatusInvalid, prob, storage.StatusInvalid
		audit.Outcome = storage.OutcomeFailure
		b.events = append(b.events, &storage.OrderEvent{AuthzID: a.ID, At: validated, Kind: "validation-failed", Actor: "system",
			Identifier: name, Detail: fmt.Sprintf("%s: connection to %s refused", ch.Type, base)})
		return p.importCert(b, r, n, acct, created)
	}
	ch.Status, ch.Validated, a.Status = storage.StatusValid, validated, storage.StatusValid
	b.events = append(b.events, &storage.OrderEvent{AuthzID: a.ID, At: validated, Kind: "validated", Actor: "system",
		Identifier: name, Detail: string(ch.Type)})
	if kind == kindReady {
		return p.importCert(b, r, n, acct, created)
	}

	finalized := after(validated, 50*time.Millisecond, 2*time.Second)
	issued := after(finalized, 2*time.Millisecond, 20*time.Millisecond)
	finalizeReq := requestID(r)
	b.events = append(b.events, &storage.OrderEvent{OrderID: o.ID, At: finalized, Kind: "finalize-requested", Actor: actor, RequestID: finalizeReq})
	key := p.keys[r.IntN(len(p.keys))]
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{name}}, key)
	if err != nil {
		return err
	}
	o.CSR, o.UpdatedAt = csr, issued
	if kind == kindIssueFailed {
		prob, err := json.Marshal(seedProblem{Type: "urn:ietf:params:acme:error:rejectedIdentifier",
			Detail: "the certificate authority refused the order: " + name + " is not allowed", Status: 400})
		if err != nil {
			return err
		}
		o.Status, o.Error = storage.StatusInvalid, prob
		b.events = append(b.events, &storage.OrderEvent{OrderID: o.ID, At: issued, Kind: "failed", Actor: "backend:" + seedBackend,
			Detail: "issue: " + name + " is not allowed", RequestID: finalizeReq})
		return p.importCert(b, r, n, acct, created)
	}

	notBefore := issued.Add(-seedBackdate).Truncate(time.Second)
	c, err := p.cert(r, name, &key.PublicKey, notBefore, notBefore.Add(seedValidity))
	if err != nil {
		return err
	}
	c.ID, c.AccountID, c.OrderID, c.CreatedAt = uuidFrom(r), account.ID, o.ID, issued
	o.Status, o.CertificateID = storage.StatusValid, c.ID
	b.certs = append(b.certs, c)
	until := c.NotAfter.Format(time.RFC3339)
	b.events = append(b.events,
		&storage.OrderEvent{OrderID: o.ID, At: issued, Kind: "issued", Actor: "backend:" + seedBackend,
			Detail: fmt.Sprintf("serial %s, valid until %s", c.Serial, until), RequestID: finalizeReq},
		&storage.OrderEvent{OrderID: o.ID, At: after(issued, 5*time.Millisecond, time.Second), Kind: "downloaded", Actor: actor, RequestID: requestID(r)})
	b.audit = append(b.audit, &storage.AuditEntry{At: issued, Actor: "system", Directory: dir, Action: "certificate.issue",
		Object: "certificate:" + c.Serial, Outcome: storage.OutcomeSuccess, ClientIP: ip,
		Detail: fmt.Sprintf("order %s of account %s, backend %s, names %s, valid until %s", o.ID, account.ID, seedBackend, name, until)})
	if r.IntN(100) == 0 {
		revoked := issued.Add(time.Duration(r.Int64N(int64(p.end.Sub(issued)) + 1))).Truncate(time.Microsecond)
		reason := []int{0, 1, 4, 5}[r.IntN(4)]
		c.Status, c.RevokedAt, c.RevocationReason = storage.StatusRevoked, revoked, reason
		b.events = append(b.events, &storage.OrderEvent{OrderID: o.ID, At: revoked, Kind: "revoked", Actor: actor,
			Detail: "reason " + strconv.Itoa(reason), RequestID: requestID(r)})
		b.audit = append(b.audit, &storage.AuditEntry{At: revoked, Actor: actor, Directory: dir, Action: "certificate.revoke",
			Object: "certificate:" + c.Serial, Outcome: storage.OutcomeSuccess, ClientIP: ip, Detail: "reason " + strconv.Itoa(reason)})
	}
	return nil
}

// importCert adds an imported certificate (no account, no order) in the
// place of the certificate order n did not get, so that there are as many
// certificates as orders. Imported certificates were issued before they
// were imported, up to 30 days; the oldest have expired.
func (p *seedPlan) importCert(b *seedBatch, r *mrand.Rand, n, acct int, at time.Time) error {
	notBefore := at.Add(-time.Duration(r.Int64N(int64(30 * 24 * time.Hour)))).Truncate(time.Second)
	key := p.keys[r.IntN(len(p.keys))]
	c, err := p.cert(r, fmt.Sprintf("legacy%d.t%d.seed.example", n, acct), &key.PublicKey, notBefore, notBefore.Add(seedValidity))
	if err != nil {
		return err
	}
	c.ID, c.CreatedAt = "import-"+seedBackend+"-"+c.Serial, at
	b.certs = append(b.certs, c)
	return nil
}

// cert issues a leaf for name from the seed intermediate and returns it as
// the inventory keeps it, without id, account, order or creation time.
func (p *seedPlan) cert(r *mrand.Rand, name string, pub *ecdsa.PublicKey, notBefore, notAfter time.Time) (*storage.Certificate, error) {
	var sb [16]byte
	fill(r, sb[:])
	sb[0] = sb[0]&0x7f | 0x01 // positive, 16 bytes
	serial := new(big.Int).SetBytes(sb[:])
	t := &x509.Certificate{
		SerialNumber: serial, DNSNames: []string{name}, NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, t, p.inter, pub, p.interKey)
	if err != nil {
		return nil, err
	}
	leaf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	chain := slices.Concat(leaf, p.interPEM)
	return &storage.Certificate{
		Directory: p.o.directory, Serial: serial.Text(16), Issuer: p.inter.Subject.String(), Names: []string{name},
		NotBefore: notBefore.UTC(), NotAfter: notAfter.UTC(), ChainPEM: chain,
		Alternates: [][]byte{slices.Concat(chain, p.rootPEM)}, Profile: seedProfile, Backend: seedBackend,
		Status: storage.StatusValid,
	}, nil
}

// seedProblem is an RFC 7807 problem document with acmegate's members.
type seedProblem struct {
	Type       string              `json:"type"`
	Detail     string              `json:"detail,omitempty"`
	Status     int                 `json:"status,omitempty"`
	Identifier *storage.Identifier `json:"identifier,omitempty"`
}

func pickKind(r *mrand.Rand) orderKind {
	x := r.IntN(1000)
	for _, s := range kindShares {
		if x < s.permille {
			return s.kind
		}
		x -= s.permille
	}
	return kindValid
}

func fill(r *mrand.Rand, b []byte) {
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
}

// uuidFrom returns a version 4 UUID, acmegate's ids, from r.
func uuidFrom(r *mrand.Rand) string {
	var u [16]byte
	fill(r, u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return strings.Join([]string{h[0:8], h[8:12], h[12:16], h[16:20], h[20:32]}, "-")
}

// token is a challenge token: 128 bits, base64url.
func token(r *mrand.Rand) string {
	var t [16]byte
	fill(r, t[:])
	return b64(t[:])
}

// requestID is a request id as acmegate makes them (rand.Text: 26
// characters of base32).
func requestID(r *mrand.Rand) string {
	var t [16]byte
	fill(r, t[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(t[:])[:26]
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
