// Package acmeproxy is the ca.Backend that obtains certificates from another
// ACME CA (RFC 8555): once acmegate has validated its own client, this
// backend orders the same identifiers upstream with acmegate's own account,
// answers the upstream's dns-01 challenges through a hook, finalizes with the
// subscriber's CSR and returns the chain, or the upstream order URL to poll.
//
// Package acmeproxy must not know about acmegate's ACME server or storage:
// everything it needs arrives in a ca.IssueRequest, and the account key is
// loaded and persisted by the caller.
//
// Idempotency: ACME has no lookup of an order by a client-chosen id, so the
// backend keeps an in-memory map from IssueRequest.OrderID to the upstream
// order URL, and a retried Issue in the same process reuses the upstream
// order. A crash between ordering upstream and the caller recording the Ref
// leaves at most one unused upstream order behind, which costs nothing: it
// expires upstream on its own and no certificate is issued for it, because
// only a finalized order issues.
package acmeproxy

import (
	"context"
	"crypto"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/ca"
)

// Defaults for Config fields left zero.
const (
	DefaultName         = "acme"
	DefaultPollInterval = 2 * time.Second
	DefaultFinalizeWait = 5 * time.Second
	DefaultExecTimeout  = 2 * time.Minute
)

// Hook actions passed to Config.DNS01 and Config.ExecHook.
const (
	ActionPresent = "present"
	ActionCleanup = "cleanup"
)

// Config configures the ACME proxy backend.
type Config struct {
	// Name identifies the backend in logs and the inventory. Default: "acme".
	Name string
	// DirectoryURL is the upstream ACME directory. Required.
	DirectoryURL string
	// AccountKey is acmegate's account key at the upstream. The caller loads
	// and persists it; the account is registered on first use. Required.
	AccountKey crypto.Signer
	// Contact is the account's contact URLs ("mailto:…"). Default: none.
	Contact []string
	// EAB is the External Account Binding (RFC 8555 §7.3.4) for upstreams
	// that require one. Default: none.
	EAB *acme.ExternalAccountBinding
	// HTTPClient talks to the upstream. Default: http.DefaultClient.
	HTTPClient *http.Client
	// DNS01 solves the upstream's dns-01 challenges: it is called with
	// ActionPresent or ActionCleanup, the record name
	// ("_acme-challenge.example.com.", with the trailing dot) and the TXT
	// value. Nil together with ExecHook "": only authorizations the upstream
	// already holds valid are accepted, and one that needs a challenge is
	// refused (ca.Rejected).
	DNS01 func(ctx context.Context, action, fqdn, value string) error
	// ExecHook is the alternative to DNS01: the path of a program run as
	// `ExecHook present|cleanup FQDN VALUE`, like lego's exec provider. It
	// is ignored when DNS01 is set.
	ExecHook string
	// ExecTimeout bounds each run of ExecHook. Default: 2m.
	ExecTimeout time.Duration
	// Profiles are what the backend advertises; the first is the default.
	// They are not forwarded upstream. Default: one profile "default".
	Profiles []ca.Profile
	// PollInterval is the RetryAfter hint while the upstream is processing.
	// Default: 2s.
	PollInterval time.Duration
	// FinalizeWait is how long Issue waits after finalizing for the
	// upstream to issue before it returns Pending. Default: 5s.
	FinalizeWait time.Duration
	// Logger receives notable events. Keys are never logged.
	// Default: discard.
	Logger *slog.Logger
}

// Backend is the ACME proxy backend. It implements ca.Backend and is safe for
// concurrent use.
type Backend struct {
	name         string
	contact      []string
	eab          *acme.ExternalAccountBinding
	solve        func(ctx context.Context, action, fqdn, value string) error
	profiles     []ca.Profile
	pollInterval time.Duration
	finalizeWait time.Duration
	log          *slog.Logger
	client       *acme.Client

	// regMu serializes registration; registered is set once it succeeded,
	// so that a failed attempt is retried on the next call.
	regMu      sync.Mutex
	registered bool

	// ordersMu guards orders, OrderID → upstream order URL.
	ordersMu sync.Mutex
	orders   map[string]string
}

var _ ca.Backend = (*Backend)(nil)

// New checks cfg and returns a Backend. It does not contact the upstream;
// the account is registered on the first Issue or Revoke.
func New(cfg Config) (*Backend, error) {
	switch {
	case cfg.DirectoryURL == "":
		return nil, errors.New("acmeproxy: DirectoryURL is required")
	case cfg.AccountKey == nil:
		return nil, errors.New("acmeproxy: AccountKey is required")
	case cfg.PollInterval < 0 || cfg.FinalizeWait < 0 || cfg.ExecTimeout < 0:
		return nil, errors.New("acmeproxy: negative PollInterval, FinalizeWait or ExecTimeout")
	}
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.FinalizeWait == 0 {
		cfg.FinalizeWait = DefaultFinalizeWait
	}
	if cfg.ExecTimeout == 0 {
		cfg.ExecTimeout = DefaultExecTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	profiles := append([]ca.Profile(nil), cfg.Profiles...)
	if len(profiles) == 0 {
		profiles = []ca.Profile{{Name: "default", Description: "certificate from the upstream ACME CA"}}
	}
	seen := map[string]bool{}
	for i, p := range profiles {
		if p.Name == "" {
			return nil, errors.New("acmeproxy: a profile has no name")
		}
		if seen[p.Name] {
			return nil, errors.New("acmeproxy: profile " + p.Name + " is defined twice")
		}
		seen[p.Name] = true
		profiles[i] = p
	}
	b := &Backend{
		name:         cfg.Name,
		contact:      append([]string(nil), cfg.Contact...),
		eab:          cfg.EAB,
		profiles:     profiles,
		pollInterval: cfg.PollInterval,
		finalizeWait: cfg.FinalizeWait,
		log:          cfg.Logger,
		client: &acme.Client{
			Key:          cfg.AccountKey,
			DirectoryURL: cfg.DirectoryURL,
			HTTPClient:   cfg.HTTPClient,
			UserAgent:    "acmegate-acmeproxy",
		},
		orders: map[string]string{},
	}
	switch {
	case cfg.DNS01 != nil:
		b.solve = cfg.DNS01
	case cfg.ExecHook != "":
		b.solve = execHook(cfg.ExecHook, cfg.ExecTimeout)
	}
	return b, nil
}

// Name returns the configured name.
func (b *Backend) Name() string { return b.name }

// Profiles returns the configured profiles.
func (b *Backend) Profiles(context.Context) ([]ca.Profile, error) {
	return append([]ca.Profile(nil), b.profiles...), nil
}

// register creates the upstream account on first use (RFC 8555 §7.3). An
// account that already exists for the key is as good as a new one: x/crypto
// then looks its URL up with onlyReturnExisting when it signs with the kid.
func (b *Backend) register(ctx context.Context) error {
	b.regMu.Lock()
	defer b.regMu.Unlock()
	if b.registered {
		return nil
	}
	acct := &acme.Account{Contact: b.contact, ExternalAccountBinding: b.eab}
	_, err := b.client.Register(ctx, acct, acme.AcceptTOS)
	if err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return classify(err, "registering the upstream account")
	}
	b.registered = true
	return nil
}

// orderRef returns the upstream order recorded for orderID, "" if none.
func (b *Backend) orderRef(orderID string) string {
	b.ordersMu.Lock()
	defer b.ordersMu.Unlock()
	return b.orders[orderID]
}

// setOrderRef records (or with ref "" forgets) the upstream order of orderID.
func (b *Backend) setOrderRef(orderID, ref string) {
	b.ordersMu.Lock()
	defer b.ordersMu.Unlock()
	if ref == "" {
		delete(b.orders, orderID)
		return
	}
	b.orders[orderID] = ref
}
