// Package local is acmegate's built-in certificate authority: a root and an
// intermediate kept as PEM files in a directory, and a synchronous ca.Backend
// that signs leaf certificates with the intermediate. It also signs the
// serving certificate for acmegate's own HTTPS listener, so that
// `acmegate serve` works with no configuration at all.
//
// Package local knows about certificates and key files only. It must not know
// about ACME or storage: it keeps no record of what it issued or revoked (the
// caller's storage does) and trusts the caller to have verified the CSR and
// validated the identifiers.
package local

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/acmegate/acmegate/ca"
)

// Defaults for Config fields left zero.
const (
	DefaultKeyType    = "P-256"
	DefaultValidity   = 90 * 24 * time.Hour
	DefaultCommonName = "acmegate local"
	DefaultProfile    = "default"
)

// backendName is what Name returns and what the certificate inventory records.
const backendName = "local"

// maxCommonNameLen is ub-common-name (RFC 5280 Appendix A.1): a longer
// CommonName makes a certificate that strict parsers reject.
const maxCommonNameLen = 64

// Config configures the local CA.
type Config struct {
	// Dir holds root.pem, root.key, intermediate.pem and intermediate.key.
	// It is created (mode 0700) if missing. Required.
	Dir string
	// KeyType is the algorithm of the root and intermediate keys when they
	// are created: "P-256" or "P-384". Existing files are used as they are,
	// whatever their algorithm. Default: "P-256".
	KeyType string
	// Validity is the lifetime of leaf certificates under profiles that do
	// not set their own. Default: 90 days (2160h).
	Validity time.Duration
	// CommonName is the base of the CA certificates' subject names
	// ("<CommonName> Root CA …", "<CommonName> Intermediate CA …"), used when
	// they are created. Default: "acmegate local".
	CommonName string
	// Profiles are the named profiles this CA offers. A zero Validity means
	// Config.Validity. The first profile is the default (IssueRequest.Profile
	// ""). Default: one profile named "default".
	Profiles []ca.Profile
	// DisableAlternateChain stops Issue from offering the alternate chain
	// leaf + intermediate + root (see ca.IssueResult.Alternates). The
	// alternate exists for clients that want the root in the chain they
	// install; ACME serves it as Link rel="alternate" (RFC 8555 §7.4.2).
	// Default: false (the alternate chain is offered).
	DisableAlternateChain bool
	// Clock returns the current time. Default: time.Now.
	Clock func() time.Time
}

// CA is the built-in certificate authority. It implements ca.Backend and is
// safe for concurrent use: nothing in it changes after New.
type CA struct {
	dir       string
	root      *x509.Certificate
	inter     *x509.Certificate
	interKey  crypto.Signer
	profiles  []ca.Profile
	alternate bool
	now       func() time.Time
}

var _ ca.Backend = (*CA)(nil)

// New loads the CA from cfg.Dir, or creates it there when none of its files
// exist. A directory holding some of the files but not all is an error: the
// CA is never silently regenerated, since that would orphan every
// certificate already issued and every trust store that holds the old root.
func New(ctx context.Context, cfg Config) (*CA, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("local CA: create directory: %w", err)
	}
	h, err := loadHierarchy(cfg.Dir)
	if errors.Is(err, errNoHierarchy) {
		h, err = newHierarchy(cfg.KeyType, cfg.CommonName, cfg.Clock())
		if err == nil {
			err = saveHierarchy(cfg.Dir, h)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("local CA in %s: %w", cfg.Dir, err)
	}
	if now := cfg.Clock(); !now.Before(h.inter.NotAfter) {
		return nil, fmt.Errorf("local CA in %s: the intermediate certificate expired on %s; replace %s and %s",
			cfg.Dir, h.inter.NotAfter.UTC().Format(time.RFC3339), interCertFile, interKeyFile)
	}
	return &CA{
		dir:       cfg.Dir,
		root:      h.root,
		inter:     h.inter,
		interKey:  h.interKey,
		profiles:  cfg.Profiles,
		alternate: !cfg.DisableAlternateChain,
		now:       cfg.Clock,
	}, nil
}

// withDefaults fills the zero fields of cfg and checks the rest.
func withDefaults(cfg Config) (Config, error) {
	if cfg.Dir == "" {
		return cfg, errors.New("local CA: Dir is required")
	}
	if cfg.KeyType == "" {
		cfg.KeyType = DefaultKeyType
	}
	if _, err := curveFor(cfg.KeyType); err != nil {
		return cfg, fmt.Errorf("local CA: %w", err)
	}
	if cfg.Validity == 0 {
		cfg.Validity = DefaultValidity
	}
	if cfg.Validity < 0 {
		return cfg, fmt.Errorf("local CA: negative Validity %s", cfg.Validity)
	}
	if cfg.CommonName == "" {
		cfg.CommonName = DefaultCommonName
	}
	if _, inter := caNames(cfg.CommonName, strings.Repeat("0", nameSuffixLen)); len(inter) > maxCommonNameLen {
		return cfg, fmt.Errorf("local CA: CommonName %q is too long: the intermediate's name %q would be longer than %d bytes", cfg.CommonName, inter, maxCommonNameLen)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if len(cfg.Profiles) == 0 {
		cfg.Profiles = []ca.Profile{{Name: DefaultProfile, Description: "Server authentication certificate from the built-in CA"}}
	}
	profiles := make([]ca.Profile, len(cfg.Profiles))
	seen := make(map[string]bool, len(cfg.Profiles))
	for i, p := range cfg.Profiles {
		switch {
		case p.Name == "":
			return cfg, fmt.Errorf("local CA: profile %d has no name", i)
		case seen[p.Name]:
			return cfg, fmt.Errorf("local CA: profile %q is defined twice", p.Name)
		case p.Validity < 0:
			return cfg, fmt.Errorf("local CA: profile %q has a negative validity", p.Name)
		case p.Validity == 0:
			p.Validity = cfg.Validity
		}
		seen[p.Name] = true
		profiles[i] = p
	}
	cfg.Profiles = profiles
	return cfg, nil
}

// Root returns the root certificate, the one clients must trust.
func (c *CA) Root() *x509.Certificate { return c.root }

// RootPEMPath returns the path of root.pem, for operators to install in trust
// stores.
func (c *CA) RootPEMPath() string { return filepath.Join(c.dir, rootCertFile) }

// Intermediate returns the certificate that signs leaves.
func (c *CA) Intermediate() *x509.Certificate { return c.inter }

// Name returns "local".
func (c *CA) Name() string { return backendName }

// Poll always fails: Issue is synchronous and never returns Pending, so there
// is no reference to poll.
func (c *CA) Poll(ctx context.Context, ref string) (ca.IssueResult, error) {
	return ca.IssueResult{}, ca.Errorf(ca.Unsupported, "local CA has nothing to poll")
}

// Revoke accepts the revocation and records nothing. The local CA keeps no
// state besides its keys: which certificates are revoked, and why, is kept by
// the caller's storage, which is where any CRL or OCSP responder would read
// it. Keeping a second list here would only give two answers that can
// disagree.
func (c *CA) Revoke(ctx context.Context, cert *x509.Certificate, reason ca.RevocationReason) error {
	if !reason.Valid() {
		return ca.Errorf(ca.Rejected, "revocation reason %d is not an RFC 5280 CRLReason", int(reason))
	}
	return nil
}

// Profiles returns the configured profiles; the first is the default.
func (c *CA) Profiles(ctx context.Context) ([]ca.Profile, error) {
	out := make([]ca.Profile, len(c.profiles))
	copy(out, c.profiles)
	return out, nil
}

// profile returns the profile called name, or the default one for "".
func (c *CA) profile(name string) (ca.Profile, error) {
	if name == "" {
		return c.profiles[0], nil
	}
	for _, p := range c.profiles {
		if p.Name == name {
			return p, nil
		}
	}
	return ca.Profile{}, ca.Errorf(ca.Rejected, "the local CA has no profile %q", name)
}

// Synchronous reports that the local CA issues within Issue.
func (c *CA) Synchronous() bool { return true }
