package acme

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"
	"time"

	"github.com/acmegate/acmegate/policy"
	"github.com/acmegate/acmegate/storage"
)

// DirectorySettings is what an operator sets per ACME directory (a team's
// endpoint). The configuration file's `directories:` entries decode into it
// (yaml tags), and storage keeps it as JSON, so the CLI, the admin API and
// every instance see the same thing.
type DirectorySettings struct {
	// TermsOfService, Website and CAAIdentities are served in the
	// directory's meta object. CAAIdentities are also the issuer domain
	// names CAA records must authorize when CheckCAA is set.
	TermsOfService string   `json:"terms_of_service,omitempty" yaml:"terms_of_service"`
	Website        string   `json:"website,omitempty" yaml:"website"`
	CAAIdentities  []string `json:"caa_identities,omitempty" yaml:"caa_identities"`
	// ExternalAccountRequired makes newAccount demand an External Account
	// Binding (RFC 8555 §7.3.4).
	ExternalAccountRequired bool `json:"external_account_required,omitempty" yaml:"external_account_required"`
	// RequireApproval makes every finalized order wait for an operator's
	// approval; ApprovalTimeout is how long it may wait (default 72h).
	RequireApproval bool          `json:"require_approval,omitempty" yaml:"require_approval"`
	ApprovalTimeout time.Duration `json:"approval_timeout,omitempty" yaml:"approval_timeout"`
	// CheckCAA checks CAA records (RFC 8659) against CAAIdentities at
	// validation time. Default: off; turn it on for public names.
	CheckCAA bool `json:"check_caa,omitempty" yaml:"check_caa"`
	// Profiles are the certificate profiles the directory offers (the ACME
	// profiles extension); DefaultProfile is used when an order names none.
	// Empty: the backend's own profiles.
	Profiles       []ProfileSettings `json:"profiles,omitempty" yaml:"profiles"`
	DefaultProfile string            `json:"default_profile,omitempty" yaml:"default_profile"`
	// RateLimits are the directory's rate limits.
	RateLimits RateLimitSettings `json:"rate_limits,omitzero" yaml:"rate_limits"`
	// Policy is the directory's identifier, key and validity policy.
	Policy PolicySettings `json:"policy" yaml:"policy"`
}

// ProfileSettings is one certificate profile of a directory.
type ProfileSettings struct {
	// Name is what clients put in newOrder's "profile".
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description,omitempty" yaml:"description"`
	// Backend names the CA backend that issues this profile's
	// certificates. Default: the first backend configured.
	Backend string `json:"backend,omitempty" yaml:"backend"`
	// Product is the backend's own profile (a local CA profile, a Sectigo
	// cert type, a DigiCert product). Default: Name.
	Product string `json:"product,omitempty" yaml:"product"`
	// RequireApproval makes orders of this profile wait for an operator.
	RequireApproval bool `json:"require_approval,omitempty" yaml:"require_approval"`
	// RenewalFraction places ARI's suggested renewal window at this
	// fraction of the certificate's lifetime. Default: 2/3.
	RenewalFraction float64 `json:"renewal_fraction,omitempty" yaml:"renewal_fraction"`
}

// PolicySettings mirrors policy.Config in a form that YAML and JSON carry;
// policy.Config documents each field and its default. Of the two RSA
// ceilings, rsa_max_bits bounds certificate (CSR) keys and
// account_rsa_max_bits account keys: at most 4096 bits, the largest RSA key
// the JWS library parses, and by default the lower of 4096 and
// rsa_max_bits.
type PolicySettings struct {
	DenyWildcard        bool          `json:"deny_wildcard,omitempty" yaml:"deny_wildcard"`
	DenyIP              bool          `json:"deny_ip,omitempty" yaml:"deny_ip"`
	MaxNames            int           `json:"max_names,omitempty" yaml:"max_names"`
	RSAMinBits          int           `json:"rsa_min_bits,omitempty" yaml:"rsa_min_bits"`
	RSAMaxBits          int           `json:"rsa_max_bits,omitempty" yaml:"rsa_max_bits"`
	AccountRSAMaxBits   int           `json:"account_rsa_max_bits,omitempty" yaml:"account_rsa_max_bits"`
	AllowedDomains      []string      `json:"allowed_domains,omitempty" yaml:"allowed_domains"`
	DeniedDomains       []string      `json:"denied_domains,omitempty" yaml:"denied_domains"`
	AllowedPatterns     []string      `json:"allowed_patterns,omitempty" yaml:"allowed_patterns"`
	DeniedPatterns      []string      `json:"denied_patterns,omitempty" yaml:"denied_patterns"`
	AllowedCIDRs        []string      `json:"allowed_cidrs,omitempty" yaml:"allowed_cidrs"`
	MaxValidity         time.Duration `json:"max_validity,omitempty" yaml:"max_validity"`
	PreValidatedDomains []string      `json:"pre_validated_domains,omitempty" yaml:"pre_validated_domains"`
	SkipValidation      bool          `json:"skip_validation,omitempty" yaml:"skip_validation"`
	BlockedKeys         []string      `json:"blocked_keys,omitempty" yaml:"blocked_keys"`
	AllowedKeyTypes     []string      `json:"allowed_key_types,omitempty" yaml:"allowed_key_types"`
}

// policyConfig turns the settings into a policy.Config.
func (p PolicySettings) policyConfig() (policy.Config, error) {
	cfg := policy.Config{
		DenyWildcard:        p.DenyWildcard,
		DenyIP:              p.DenyIP,
		MaxNames:            p.MaxNames,
		RSAMinBits:          p.RSAMinBits,
		RSAMaxBits:          p.RSAMaxBits,
		AccountRSAMaxBits:   p.AccountRSAMaxBits,
		AllowedDomains:      p.AllowedDomains,
		DeniedDomains:       p.DeniedDomains,
		AllowedPatterns:     p.AllowedPatterns,
		DeniedPatterns:      p.DeniedPatterns,
		MaxValidity:         p.MaxValidity,
		PreValidatedDomains: p.PreValidatedDomains,
		SkipValidation:      p.SkipValidation,
		BlockedKeys:         p.BlockedKeys,
		AllowedKeyTypes:     p.AllowedKeyTypes,
	}
	for _, c := range p.AllowedCIDRs {
		pfx, err := netip.ParsePrefix(c)
		if err != nil {
			return cfg, fmt.Errorf("allowed_cidrs: %q is not a CIDR prefix", c)
		}
		cfg.AllowedCIDRs = append(cfg.AllowedCIDRs, pfx)
	}
	return cfg, nil
}

// directoryName is what a directory may be called: it appears in URLs.
var directoryName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidDirectoryName reports whether name can be a directory's name.
func ValidDirectoryName(name string) bool { return directoryName.MatchString(name) }

// directory is a directory ready to serve: its settings checked and its
// policy built.
type directory struct {
	name     string
	disabled bool
	settings DirectorySettings
	policy   *policy.Policy
	// profiles by name, and the name used when an order names none.
	profiles       map[string]ProfileSettings
	defaultProfile string
}

// compileDirectory checks settings against the backend's profiles and builds
// the directory's policy.
func compileDirectory(name string, disabled bool, s DirectorySettings, cat Catalog) (*directory, error) {
	if !ValidDirectoryName(name) {
		return nil, fmt.Errorf("directory name %q must be 1-63 lower-case letters, digits or hyphens", name)
	}
	pc, err := s.Policy.policyConfig()
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", name, err)
	}
	pol, err := policy.New(pc)
	if err != nil {
		return nil, fmt.Errorf("directory %s: %w", name, err)
	}
	d := &directory{name: name, disabled: disabled, settings: s, policy: pol, profiles: map[string]ProfileSettings{}}
	if len(s.Profiles) == 0 {
		// Without profiles of its own a directory offers the default
		// backend's.
		for _, p := range cat.Profiles[cat.Default] {
			d.profiles[p] = ProfileSettings{Name: p, Product: p, Backend: cat.Default}
		}
		if ps := cat.Profiles[cat.Default]; len(ps) > 0 {
			d.defaultProfile = ps[0]
		}
	}
	for _, p := range s.Profiles {
		if p.Product == "" {
			p.Product = p.Name
		}
		if p.Backend == "" {
			p.Backend = cat.Default
		}
		if _, ok := cat.Profiles[p.Backend]; !ok {
			return nil, fmt.Errorf("directory %s: profile %q uses backend %q, which is not configured", name, p.Name, p.Backend)
		}
		if p.Name == "" {
			return nil, fmt.Errorf("directory %s: a profile has no name", name)
		}
		if _, dup := d.profiles[p.Name]; dup {
			return nil, fmt.Errorf("directory %s: profile %q is listed twice", name, p.Name)
		}
		if !cat.has(p.Backend, p.Product) {
			return nil, fmt.Errorf("directory %s: profile %q uses product %q, which backend %s does not offer (it offers %v)", name, p.Name, p.Product, p.Backend, cat.Profiles[p.Backend])
		}
		d.profiles[p.Name] = p
		if d.defaultProfile == "" {
			d.defaultProfile = p.Name
		}
	}
	if s.DefaultProfile != "" {
		if _, ok := d.profiles[s.DefaultProfile]; !ok {
			return nil, fmt.Errorf("directory %s: default profile %q is not one of its profiles", name, s.DefaultProfile)
		}
		d.defaultProfile = s.DefaultProfile
	}
	if s.CheckCAA && len(s.CAAIdentities) == 0 {
		return nil, fmt.Errorf("directory %s: check_caa needs caa_identities", name)
	}
	return d, nil
}

// meta is the directory's meta object (RFC 8555 §7.1.1 and the profiles
// extension).
func (d *directory) meta() Meta {
	m := Meta{
		TermsOfService:          d.settings.TermsOfService,
		Website:                 d.settings.Website,
		CAAIdentities:           d.settings.CAAIdentities,
		ExternalAccountRequired: d.settings.ExternalAccountRequired,
	}
	if len(d.profiles) > 0 {
		m.Profiles = map[string]string{}
		for name, p := range d.profiles {
			m.Profiles[name] = p.Description
		}
	}
	return m
}

// DirectoryDefinition is a directory as the configuration file defines it.
type DirectoryDefinition struct {
	Name     string
	Disabled bool
	Settings DirectorySettings
}

// PutConfigDirectories writes the directories defined in the configuration
// file to storage (replacing earlier versions of them) after checking each
// against the backend's profiles. Directories created at run time are left
// alone. When st is also a storage.AuditStore (every storage.Store is), a
// directory created or changed by the file is audited as directory.config;
// one that is unchanged is not, so restarts add nothing to the trail.
func PutConfigDirectories(ctx context.Context, st storage.DirectoryStore, cat Catalog, defs []DirectoryDefinition, now time.Time) error {
	auditor, _ := st.(storage.AuditStore)
	for _, def := range defs {
		if _, err := compileDirectory(def.Name, def.Disabled, def.Settings, cat); err != nil {
			return err
		}
		settings, err := json.Marshal(def.Settings)
		if err != nil {
			return fmt.Errorf("encode directory %s: %w", def.Name, err)
		}
		existing, err := st.GetDirectory(ctx, def.Name)
		switch {
		case err == nil && existing.Source == "runtime":
			return fmt.Errorf("directory %s is defined both in the configuration file and at run time; remove one", def.Name)
		case err != nil && !errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("read directory %s: %w", def.Name, err)
		case err != nil:
			existing = nil
		}
		if err := st.PutDirectory(ctx, &storage.Directory{
			Name: def.Name, Disabled: def.Disabled, Settings: settings, Source: "config", CreatedAt: now, UpdatedAt: now,
		}); err != nil {
			return fmt.Errorf("store directory %s: %w", def.Name, err)
		}
		if change := configChange(existing, def, settings); change != "" && auditor != nil {
			e := &storage.AuditEntry{At: now, Actor: actorSystem, Directory: def.Name, Action: AuditDirectoryConfig,
				Object: "directory:" + def.Name, Outcome: storage.OutcomeSuccess, Detail: change + " by the configuration file"}
			if err := auditor.AppendAudit(ctx, e); err != nil {
				// The directory is stored; starting without its audit
				// entry beats not starting.
				slog.Warn("append audit entry", slog.String("action", e.Action), slog.String("object", e.Object), slog.Any("error", err))
			}
		}
	}
	return nil
}

// configChange says what writing def does to the stored directory
// existing (nil when there is none): "created", "changed" or "" for
// nothing. Settings are compared decoded and encoded again, because a
// database may keep JSON in another key order or spacing.
func configChange(existing *storage.Directory, def DirectoryDefinition, settings []byte) string {
	if existing == nil {
		return "created"
	}
	if existing.Disabled != def.Disabled || existing.Source != "config" {
		return "changed"
	}
	var old DirectorySettings
	if err := json.Unmarshal(existing.Settings, &old); err != nil {
		return "changed"
	}
	again, err := json.Marshal(old)
	if err != nil || !bytes.Equal(again, settings) {
		return "changed"
	}
	return ""
}

// PutRuntimeDirectory creates (create) or replaces a directory managed at
// run time (CLI, admin API) after checking its settings.
func PutRuntimeDirectory(ctx context.Context, st storage.DirectoryStore, cat Catalog, def DirectoryDefinition, create bool, now time.Time) error {
	if _, err := compileDirectory(def.Name, def.Disabled, def.Settings, cat); err != nil {
		return err
	}
	settings, err := json.Marshal(def.Settings)
	if err != nil {
		return fmt.Errorf("encode directory %s: %w", def.Name, err)
	}
	d := &storage.Directory{Name: def.Name, Disabled: def.Disabled, Settings: settings, Source: "runtime", CreatedAt: now, UpdatedAt: now}
	if create {
		if err := st.CreateDirectory(ctx, d); err != nil {
			if errors.Is(err, storage.ErrConflict) {
				return fmt.Errorf("directory %s already exists", def.Name)
			}
			return fmt.Errorf("create directory %s: %w", def.Name, err)
		}
		return nil
	}
	if err := st.PutDirectory(ctx, d); err != nil {
		return fmt.Errorf("update directory %s: %w", def.Name, err)
	}
	return nil
}
