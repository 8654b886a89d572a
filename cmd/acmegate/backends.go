package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/acmeproxy"
	"github.com/acmegate/acmegate/ca/digicert"
	"github.com/acmegate/acmegate/ca/sectigo"
)

// BackendConfig declares an upstream CA backend. The local CA is always
// there, called "local"; these come in addition, and directory profiles
// select them by name (profiles[].backend).
type BackendConfig struct {
	// Name is how profiles refer to the backend. Required, unique, not
	// "local".
	Name string `yaml:"name"`
	// Type is "sectigo" or "digicert".
	Type string `yaml:"type"`
	// CAFile is a PEM bundle of roots to trust for the vendor API's TLS
	// certificate instead of the system's (a TLS-inspecting proxy, a test
	// server). Default: the system roots.
	CAFile   string                 `yaml:"ca_file"`
	Sectigo  *SectigoBackendConfig  `yaml:"sectigo"`
	ACME     *ACMEBackendConfig     `yaml:"acme"`
	DigiCert *DigiCertBackendConfig `yaml:"digicert"`
}

// SectigoBackendConfig configures a Sectigo Certificate Manager account.
// Secrets come from files (or ${ENV} expansion), never inline in a shared
// file.
type SectigoBackendConfig struct {
	BaseURL     string `yaml:"base_url"`
	CustomerURI string `yaml:"customer_uri"`
	Login       string `yaml:"login"`
	// PasswordFile holds the API administrator's password.
	PasswordFile string `yaml:"password_file"`
	// ClientCertFile and ClientKeyFile switch to client-certificate
	// authentication instead of the password.
	ClientCertFile string               `yaml:"client_cert_file"`
	ClientKeyFile  string               `yaml:"client_key_file"`
	OrgID          int                  `yaml:"org_id"`
	Profiles       []SectigoProfileYAML `yaml:"profiles"`
	// PollInterval is how often a request SCM is processing is polled
	// (default 15s); ApprovalPollInterval while it waits for an SCM
	// approver (default 5m).
	PollInterval         time.Duration `yaml:"poll_interval"`
	ApprovalPollInterval time.Duration `yaml:"approval_poll_interval"`
	// Timeout bounds each call to the SCM API (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// SectigoProfileYAML maps a profile name to an SCM certificate type.
type SectigoProfileYAML struct {
	Name        string `yaml:"name"`
	CertTypeID  int    `yaml:"cert_type_id"`
	Term        int    `yaml:"term"`
	Description string `yaml:"description"`
}

// ACMEBackendConfig chains to another ACME CA with acmegate's own account.
type ACMEBackendConfig struct {
	DirectoryURL string   `yaml:"directory_url"`
	Contact      []string `yaml:"contact"`
	// AccountKeyFile holds acmegate's account key at the upstream (PEM,
	// created 0600 if missing). Default: DATA_DIR/acme-NAME-account.key.
	AccountKeyFile string `yaml:"account_key_file"`
	// EABKeyID and EABHMACFile bind the account when the upstream
	// requires External Account Binding.
	EABKeyID    string `yaml:"eab_kid"`
	EABHMACFile string `yaml:"eab_hmac_file"`
	// ExecHook solves the upstream's dns-01 challenges:
	// `hook present|cleanup FQDN VALUE`. Without one, only names the
	// upstream already considers validated can be issued.
	ExecHook string `yaml:"exec_hook"`
}

// DigiCertBackendConfig configures a DigiCert CertCentral account.
type DigiCertBackendConfig struct {
	BaseURL string `yaml:"base_url"`
	// APIKeyFile holds the CertCentral API key (sent as X-DC-DEVKEY).
	APIKeyFile   string                `yaml:"api_key_file"`
	OrgID        int                   `yaml:"org_id"`
	SkipApproval bool                  `yaml:"skip_approval"`
	Profiles     []DigiCertProfileYAML `yaml:"profiles"`
}

// DigiCertProfileYAML maps a profile name to a CertCentral product.
type DigiCertProfileYAML struct {
	Name         string `yaml:"name"`
	Product      string `yaml:"product"`
	ValidityDays int    `yaml:"validity_days"`
	Description  string `yaml:"description"`
}

// readSecret reads a secret file, trimming the trailing newline editors add.
func readSecret(what, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("%s: no file given", what)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", what, path)
	}
	return s, nil
}

// named gives a backend the name the configuration chose.
type named struct {
	ca.Backend
	name string
}

func (n named) Name() string { return n.name }

// namedChecker is a named backend that can still be checked (readiness,
// `acmegate backend check`).
type namedChecker struct {
	named
	checker ca.Checker
}

func (n namedChecker) Check(ctx context.Context) error { return n.checker.Check(ctx) }

// rename gives b the configured name, keeping its optional Check.
func rename(b ca.Backend, name string) ca.Backend {
	if c, ok := b.(ca.Checker); ok {
		return namedChecker{named{b, name}, c}
	}
	return named{b, name}
}

// openBackend builds one upstream backend from its configuration. client,
// when not nil, replaces the backend's HTTP client (tests point it at a
// fake whose TLS root only that client trusts).
func openBackend(bc BackendConfig, dataDir string, log *slog.Logger, client *http.Client) (ca.Backend, error) {
	var roots *x509.CertPool
	if bc.CAFile != "" {
		pemBytes, err := os.ReadFile(bc.CAFile)
		if err != nil {
			return nil, fmt.Errorf("backend %s: ca_file: %w", bc.Name, err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("backend %s: ca_file %s holds no PEM certificate", bc.Name, bc.CAFile)
		}
	}
	switch bc.Type {
	case "sectigo":
		c := bc.Sectigo
		if c == nil {
			return nil, fmt.Errorf("backend %s: the sectigo section is missing", bc.Name)
		}
		cfg := sectigo.Config{Name: bc.Name, BaseURL: c.BaseURL, CustomerURI: c.CustomerURI, Login: c.Login, OrgID: c.OrgID, Logger: log, HTTPClient: client, RootCAs: roots,
			PollInterval: c.PollInterval, ApprovalPollInterval: c.ApprovalPollInterval, Timeout: c.Timeout}
		for _, p := range c.Profiles {
			cfg.Profiles = append(cfg.Profiles, sectigo.ProfileMap{Name: p.Name, CertTypeID: p.CertTypeID, Term: p.Term, Description: p.Description})
		}
		if c.ClientCertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile)
			if err != nil {
				return nil, fmt.Errorf("backend %s: client certificate: %w", bc.Name, err)
			}
			cfg.ClientCert = &cert
		} else {
			pw, err := readSecret("backend "+bc.Name+" password_file", c.PasswordFile)
			if err != nil {
				return nil, err
			}
			cfg.Password = pw
		}
		b, err := sectigo.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", bc.Name, err)
		}
		return b, nil
	case "digicert":
		c := bc.DigiCert
		if c == nil {
			return nil, fmt.Errorf("backend %s: the digicert section is missing", bc.Name)
		}
		key, err := readSecret("backend "+bc.Name+" api_key_file", c.APIKeyFile)
		if err != nil {
			return nil, err
		}
		if client == nil && roots != nil {
			client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				Proxy:           http.ProxyFromEnvironment,
				TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			}}
		}
		cfg := digicert.Config{BaseURL: c.BaseURL, APIKey: key, OrgID: c.OrgID, SkipApproval: c.SkipApproval, Logger: log, HTTPClient: client}
		for _, p := range c.Profiles {
			cfg.Profiles = append(cfg.Profiles, digicert.ProfileMap{Name: p.Name, Product: p.Product, ValidityDays: p.ValidityDays, Description: p.Description})
		}
		b, err := digicert.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", bc.Name, err)
		}
		if b.Name() != bc.Name {
			return rename(b, bc.Name), nil
		}
		return b, nil
	case "acme":
		c := bc.ACME
		if c == nil {
			return nil, fmt.Errorf("backend %s: the acme section is missing", bc.Name)
		}
		keyPath := c.AccountKeyFile
		if keyPath == "" {
			keyPath = filepath.Join(dataDir, "acme-"+bc.Name+"-account.key")
		}
		key, err := loadOrCreateECKey(keyPath)
		if err != nil {
			return nil, fmt.Errorf("backend %s: account key: %w", bc.Name, err)
		}
		cfg := acmeproxy.Config{Name: bc.Name, DirectoryURL: c.DirectoryURL, AccountKey: key, Contact: c.Contact,
			ExecHook: c.ExecHook, HTTPClient: client, Logger: log}
		if c.EABKeyID != "" {
			hmacKey, err := readSecret("backend "+bc.Name+" eab_hmac_file", c.EABHMACFile)
			if err != nil {
				return nil, err
			}
			raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(hmacKey, "="))
			if err != nil {
				return nil, fmt.Errorf("backend %s: eab_hmac_file is not base64url", bc.Name)
			}
			cfg.EAB = &xacme.ExternalAccountBinding{KID: c.EABKeyID, Key: raw}
		}
		if client == nil && roots != nil {
			cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
				Proxy:           http.ProxyFromEnvironment,
				TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
			}}
		}
		b, err := acmeproxy.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("backend %s: %w", bc.Name, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("backend %s: type %q is not supported (use sectigo, digicert or acme)", bc.Name, bc.Type)
}

// runBackend implements `acmegate backend check NAME`: connectivity and
// credentials, explained in plain words.
func runBackend(ctx context.Context, cfg *Config, args []string, stdout io.Writer) error {
	return runBackendWith(ctx, cfg, args, stdout, nil)
}

func runBackendWith(ctx context.Context, cfg *Config, args []string, stdout io.Writer, client *http.Client) error {
	importDir := "default"
	if len(args) == 4 && args[0] == "import" && args[2] == "--directory" {
		importDir, args = args[3], args[:2]
	}
	if len(args) != 2 || (args[0] != "check" && args[0] != "sync" && args[0] != "import") {
		return errors.New("usage: acmegate backend check|sync NAME | import NAME [--directory DIR]")
	}
	for _, bc := range cfg.Backends {
		if bc.Name != args[1] {
			continue
		}
		b, err := openBackend(bc, cfg.DataDir, newLogger(cfg, os.Stderr), client)
		if err != nil {
			return err
		}
		if args[0] == "sync" || args[0] == "import" {
			comp, err := openExistingComponents(ctx, cfg)
			if err != nil {
				return err
			}
			defer comp.close()
			if args[0] == "sync" {
				return syncBackend(ctx, cfg, comp.store, bc, b, stdout)
			}
			if _, err := getDirectory(ctx, comp.store, importDir); err != nil {
				return err
			}
			return importBackend(ctx, comp.store, bc, b, importDir, stdout)
		}
		c, ok := unwrapNamed(b).(ca.Checker)
		if !ok {
			return fmt.Errorf("backend %s cannot be checked", bc.Name)
		}
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.Check(ctx); err != nil {
			return fmt.Errorf("backend %s: %w", bc.Name, err)
		}
		profiles, err := b.Profiles(ctx)
		if err != nil {
			return fmt.Errorf("backend %s: %w", bc.Name, err)
		}
		fmt.Fprintf(stdout, "backend %s (%s): reachable, credentials accepted, %d profiles\n", bc.Name, bc.Type, len(profiles))
		return nil
	}
	return fmt.Errorf("no backend %q in the configuration", args[1])
}

// loadOrCreateECKey reads a PEM (PKCS#8) key or creates a P-256 one, 0600.
func loadOrCreateECKey(path string) (crypto.Signer, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		werr := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := errors.Join(werr, f.Close()); err != nil {
			return nil, err
		}
		return k, nil
	}
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", path)
	}
	return signer, nil
}
