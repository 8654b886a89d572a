package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/acmegate/acmegate/acme"
)

// Config is the YAML configuration file. Every field has a default, so
// `acmegate serve` runs with no file at all. docs/configuration.md documents
// each field; keep the two in step.
type Config struct {
	// DataDir holds the SQLite database and the local CA. Default:
	// ./acmegate-data.
	DataDir string `yaml:"data_dir"`
	// Listen is the HTTPS address of the ACME server. Default:
	// 127.0.0.1:14000.
	Listen string `yaml:"listen"`
	// PublicURL is the URL clients use, e.g. https://acme.example.com when
	// a TLS-terminating proxy is in front. Default: https://LISTEN.
	PublicURL string        `yaml:"public_url"`
	TLS       TLSConfig     `yaml:"tls"`
	Storage   StorageConfig `yaml:"storage"`
	CA        CAConfig      `yaml:"ca"`
	// Directories are the ACME directories this file defines (one per
	// team). With none, a "default" directory with default settings is
	// created unless one exists already. Directories can also be created at
	// run time with `acmegate directory create`.
	Directories []DirectoryConfig `yaml:"directories"`
	// Backends are upstream CAs (Sectigo, DigiCert) next to the local CA;
	// directory profiles select them by name.
	Backends   []BackendConfig  `yaml:"backends"`
	Validation ValidationConfig `yaml:"validation"`
	Secrets    SecretsConfig    `yaml:"secrets"`
	Limits     LimitsConfig     `yaml:"limits"`
	Log        LogConfig        `yaml:"log"`
	// Notifications: e-mail recipients and delivery settings
	// (docs/notifications.md).
	Notifications NotificationsConfig `yaml:"notifications"`
	// Admin: the admin API and dashboard listener (docs/admin-api.md).
	Admin AdminConfig `yaml:"admin"`
}

// DirectoryConfig is one directory of the configuration file: its name and
// its settings (README, "Directories").
type DirectoryConfig struct {
	Name                   string `yaml:"name"`
	Disabled               bool   `yaml:"disabled"`
	acme.DirectorySettings `yaml:",inline"`
}

// SecretsConfig says where the key that seals EAB HMAC keys in the
// database lives.
type SecretsConfig struct {
	// KeyFile holds 32 random bytes, created 0600 if missing. Every
	// instance sharing a database needs the same file. Default:
	// DATA_DIR/secrets.key.
	KeyFile string `yaml:"key_file"`
}

// TLSConfig says how the ACME listener gets its certificate.
type TLSConfig struct {
	// Disabled serves plain HTTP, for use behind a TLS-terminating proxy.
	Disabled bool `yaml:"disabled"`
	// CertFile and KeyFile are a PEM certificate chain and key to serve.
	// Default: a certificate issued at start by the local CA.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Hosts are the names and addresses of the self-issued certificate.
	// Default: the listen host, localhost, 127.0.0.1 and ::1.
	Hosts []string `yaml:"hosts"`
}

// StorageConfig selects the database.
type StorageConfig struct {
	// Driver is "sqlite" or "postgres". Default: postgres when a URL is
	// given, sqlite otherwise.
	Driver string `yaml:"driver"`
	// Path is the SQLite file. Default: DATA_DIR/acmegate.db.
	Path string `yaml:"path"`
	// URL is the PostgreSQL connection URL
	// (postgres://user:pass@host:5432/db?sslmode=verify-full&pool_max_conns=16).
	// Default: the environment variable ACMEGATE_DATABASE_URL.
	URL string `yaml:"url"`
	// URLFile names a file holding the URL, so the password stays out of
	// the config file.
	URLFile string `yaml:"url_file"`
	// Nonces is "local" (kept in this process: no database write per
	// request, but a nonce is good only at the instance that minted it)
	// or "shared" (redeemed in the database, good at every instance).
	// Default: local with sqlite, shared with postgres. See
	// docs/performance.md.
	Nonces string `yaml:"nonces"`
	// AccountCacheTTL is how long an account and its key stay cached for
	// the requests they sign. A change (deactivation, key rollover, EAB
	// revocation) reaches the cache at once in this process and within
	// milliseconds (postgres) or a second (sqlite) from another one: the
	// TTL is only a backstop. "0s" disables the cache. Default: 60s. See
	// docs/performance.md.
	AccountCacheTTL *time.Duration `yaml:"account_cache_ttl"`
}

// defaultAccountCacheTTL is storage.account_cache_ttl when not set.
const defaultAccountCacheTTL = time.Minute

// accountCacheTTL is acme.Config.AccountCacheTTL: the configured TTL, with
// "0s" (off) as negative, since zero means the default there.
func (s StorageConfig) accountCacheTTL() time.Duration {
	switch {
	case s.AccountCacheTTL == nil:
		return defaultAccountCacheTTL
	case *s.AccountCacheTTL == 0:
		return -1
	}
	return *s.AccountCacheTTL
}

// Nonce modes (storage.nonces).
const (
	noncesLocal  = "local"
	noncesShared = "shared"
)

// CAConfig selects and configures the CA backend.
type CAConfig struct {
	// Backend is "local" (the default).
	Backend string        `yaml:"backend"`
	Local   LocalCAConfig `yaml:"local"`
}

// LocalCAConfig configures the built-in CA.
type LocalCAConfig struct {
	// Dir holds root.pem, root.key, intermediate.pem and intermediate.key.
	// Default: DATA_DIR.
	Dir string `yaml:"dir"`
	// KeyType is "P-256" (default) or "P-384".
	KeyType string `yaml:"key_type"`
	// Validity of issued certificates. Default: 2160h (90 days).
	Validity time.Duration `yaml:"validity"`
	// CommonName is the base of the CA certificates' names. Default:
	// "acmegate local".
	CommonName string `yaml:"common_name"`
	// Profiles are the certificate templates directories' profiles can
	// name as their product. Default: one profile "default" with Validity.
	Profiles []LocalProfileConfig `yaml:"profiles"`
}

// LocalProfileConfig is one certificate template of the local CA.
type LocalProfileConfig struct {
	Name        string        `yaml:"name"`
	Description string        `yaml:"description"`
	Validity    time.Duration `yaml:"validity"`
	ClientAuth  bool          `yaml:"client_auth"`
}

// ValidationConfig configures challenge validation.
type ValidationConfig struct {
	// Resolvers are DNS servers as host:port. Default: /etc/resolv.conf.
	Resolvers []string `yaml:"resolvers"`
	// HTTPPort is where http-01 connects. Default: 80.
	HTTPPort int `yaml:"http_port"`
	// TLSALPNPort is where tls-alpn-01 connects. Default: 443.
	TLSALPNPort int `yaml:"tls_alpn_port"`
	// Timeout bounds one validation attempt. Default: 10s.
	Timeout time.Duration `yaml:"timeout"`
	// RetryWindow is how long transient failures are retried. Default: 20s.
	RetryWindow time.Duration `yaml:"retry_window"`
	// AllowedNetworks are special-purpose ranges (loopback, private) that
	// validation may connect to anyway, e.g. ["10.0.0.0/8"] for a private
	// CA. Default: none.
	AllowedNetworks []string `yaml:"allowed_networks"`
}

// LimitsConfig holds lifetimes and protocol limits.
type LimitsConfig struct {
	NonceLifetime        time.Duration `yaml:"nonce_lifetime"`
	OrderLifetime        time.Duration `yaml:"order_lifetime"`
	PendingAuthzLifetime time.Duration `yaml:"pending_authz_lifetime"`
	ValidAuthzLifetime   time.Duration `yaml:"valid_authz_lifetime"`
	MaxBodyBytes         int64         `yaml:"max_body_bytes"`
	Workers              int           `yaml:"workers"`
	// JobLease is how long an instance holds a background job before
	// another may take it over if it stops renewing it (it died).
	// Default: 30s.
	JobLease time.Duration `yaml:"job_lease"`
	// IssuanceDeadline is how long an order may stay processing while an
	// upstream CA fails or keeps it pending; then it becomes invalid with
	// the upstream's reason. Default: 24h.
	IssuanceDeadline time.Duration `yaml:"issuance_deadline"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is json (default) or text.
	Format string `yaml:"format"`
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// loadConfig reads path ("" for none), expands ${ENV} references and fills
// in defaults.
func loadConfig(path string) (*Config, error) {
	cfg := &Config{}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		var missing []string
		expanded := envRef.ReplaceAllFunc(raw, func(m []byte) []byte {
			name := string(envRef.FindSubmatch(m)[1])
			v, ok := os.LookupEnv(name)
			if !ok {
				missing = append(missing, name)
			}
			return []byte(v)
		})
		if len(missing) > 0 {
			return nil, fmt.Errorf("config %s refers to unset environment variables: %s", path, strings.Join(missing, ", "))
		}
		dec := yaml.NewDecoder(bytes.NewReader(expanded))
		dec.KnownFields(true)
		// An empty file means "all defaults".
		if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) setDefaults() {
	str := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	dur := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	str(&c.DataDir, "./acmegate-data")
	str(&c.Listen, "127.0.0.1:14000")
	if c.Storage.URL == "" && c.Storage.URLFile == "" {
		c.Storage.URL = os.Getenv("ACMEGATE_DATABASE_URL")
	}
	if c.Storage.URL != "" || c.Storage.URLFile != "" {
		str(&c.Storage.Driver, "postgres")
	}
	str(&c.Storage.Driver, "sqlite")
	str(&c.Storage.Path, filepath.Join(c.DataDir, "acmegate.db"))
	if c.Storage.Driver == "sqlite" {
		str(&c.Storage.Nonces, noncesLocal)
	}
	str(&c.Storage.Nonces, noncesShared)
	if c.Storage.AccountCacheTTL == nil {
		ttl := defaultAccountCacheTTL
		c.Storage.AccountCacheTTL = &ttl
	}
	str(&c.CA.Backend, "local")
	str(&c.CA.Local.Dir, c.DataDir)
	str(&c.CA.Local.KeyType, "P-256")
	str(&c.CA.Local.CommonName, "acmegate local")
	dur(&c.CA.Local.Validity, 90*24*time.Hour)
	if c.Validation.HTTPPort == 0 {
		c.Validation.HTTPPort = 80
	}
	if c.Validation.TLSALPNPort == 0 {
		c.Validation.TLSALPNPort = 443
	}
	dur(&c.Validation.Timeout, 10*time.Second)
	dur(&c.Validation.RetryWindow, 20*time.Second)
	str(&c.Secrets.KeyFile, filepath.Join(c.DataDir, "secrets.key"))
	str(&c.Log.Level, "info")
	str(&c.Log.Format, "json")
	c.Notifications.setDefaults()
	c.Admin.setDefaults()
}

func (c *Config) validate() error {
	switch c.Storage.Driver {
	case "sqlite":
	case "postgres":
		if c.Storage.URL == "" && c.Storage.URLFile == "" {
			return errors.New("config: storage.driver postgres needs storage.url, storage.url_file or ACMEGATE_DATABASE_URL")
		}
	default:
		return fmt.Errorf("config: storage.driver %q is not supported (use sqlite or postgres)", c.Storage.Driver)
	}
	if c.Storage.Nonces != noncesLocal && c.Storage.Nonces != noncesShared {
		return fmt.Errorf("config: storage.nonces %q must be %s or %s", c.Storage.Nonces, noncesLocal, noncesShared)
	}
	if ttl := c.Storage.AccountCacheTTL; ttl != nil && *ttl < 0 {
		return fmt.Errorf("config: storage.account_cache_ttl %v is negative (0s disables the cache)", *ttl)
	}
	if c.CA.Backend != "local" {
		return fmt.Errorf("config: ca.backend %q is not supported (use local)", c.CA.Backend)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("config: tls.cert_file and tls.key_file go together")
	}
	for _, n := range c.Validation.AllowedNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			return fmt.Errorf("config: validation.allowed_networks: %q is not a CIDR prefix", n)
		}
	}
	backends := map[string]bool{"local": true}
	for _, b := range c.Backends {
		if b.Name == "" || backends[b.Name] {
			return fmt.Errorf("config: every backend needs a unique name other than \"local\" (got %q)", b.Name)
		}
		backends[b.Name] = true
	}
	seen := map[string]bool{}
	for _, d := range c.Directories {
		if !acme.ValidDirectoryName(d.Name) {
			return fmt.Errorf("config: directory name %q must be 1-63 lower-case letters, digits or hyphens", d.Name)
		}
		if seen[d.Name] {
			return fmt.Errorf("config: directory %q is defined twice", d.Name)
		}
		seen[d.Name] = true
	}
	if err := c.Notifications.validate(); err != nil {
		return err
	}
	if err := c.Admin.validate(); err != nil {
		return err
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		return fmt.Errorf("config: log.format %q must be json or text", c.Log.Format)
	}
	return nil
}

// hostOf returns the host of a URL, or "".
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
