package acmeproxy_test

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	xacme "golang.org/x/crypto/acme"

	"github.com/acmegate/acmegate/ca"
	"github.com/acmegate/acmegate/ca/acmeproxy"
	"github.com/acmegate/acmegate/storage"
)

func TestIssue(t *testing.T) {
	u := newUpstream(t)
	tests := []struct {
		name  string
		dir   string
		names []string
		hook  bool
	}{
		{name: "pre-validated upstream", dir: dirSkip, names: []string{"a.example.com", "b.example.com"}},
		{name: "dns-01 wildcard and base", dir: dirDNS, names: []string{"example.org", "*.example.org"}, hook: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			zone := newTXTZone(u.dns)
			cfg := acmeproxy.Config{}
			if tc.hook {
				cfg.DNS01 = func(_ context.Context, action, fqdn, value string) error {
					if !strings.HasPrefix(fqdn, "_acme-challenge.") || !strings.HasSuffix(fqdn, ".") {
						return errors.New("bad fqdn " + fqdn)
					}
					zone.apply(action, fqdn, value)
					return nil
				}
			}
			b := u.backend(t, tc.dir, cfg)
			res := issue(ctx, t, b, request(t, "order-"+tc.dir, tc.names...))
			u.checkChain(t, res, tc.names...)
			presented, left := zone.counts()
			if tc.hook && presented != len(tc.names) {
				t.Errorf("hook presented %d records, want %d", presented, len(tc.names))
			}
			if left != 0 {
				t.Errorf("%d TXT records left after cleanup", left)
			}
		})
	}
}

func TestIssueExecHook(t *testing.T) {
	u := newUpstream(t)
	ctx := testCtx(t)
	dir := t.TempDir()
	log := filepath.Join(dir, "hook.log")
	ack := filepath.Join(dir, "hook.ack")
	// The script appends "action fqdn value" and, like a DNS provider's API
	// that returns once the record is live, waits (bounded) until the test
	// has published its line.
	script := filepath.Join(dir, "hook.sh")
	body := `#!/bin/sh
echo "$1 $2 $3" >> '` + log + `'
n=$(wc -l < '` + log + `')
i=0
while [ "$(cat '` + ack + `' 2>/dev/null || echo 0)" -lt "$n" ]; do
	i=$((i+1))
	[ "$i" -gt 200 ] && { echo "no ack for line $n" >&2; exit 1; }
	sleep 0.02
done
`
	if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
		t.Fatal(err)
	}
	zone := newTXTZone(u.dns)
	mctx, stop := context.WithCancel(ctx)
	mirrored := make(chan int, 1)
	go func() { mirrored <- mirror(mctx, t, log, ack, zone) }()

	b := u.backend(t, dirDNS, acmeproxy.Config{ExecHook: script, ExecTimeout: 10 * time.Second})
	names := []string{"exec.example.net", "*.exec.example.net"}
	res := issue(ctx, t, b, request(t, "order-exec", names...))
	stop()
	seen := <-mirrored
	u.checkChain(t, res, names...)
	if seen != 2*len(names) {
		t.Errorf("script logged %d lines, want %d (present and cleanup per name)", seen, 2*len(names))
	}
	if _, left := zone.counts(); left != 0 {
		t.Errorf("%d TXT records left after cleanup", left)
	}
}

// mirror applies each new line of log to zone and then writes the number of
// lines applied to ack, until ctx is done; it returns that number.
func mirror(ctx context.Context, t *testing.T, log, ack string, zone *txtZone) int {
	seen := 0
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if data, err := os.ReadFile(log); err == nil {
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) > seen && lines[0] != "" {
				for _, l := range lines[seen:] {
					if f := strings.Fields(l); len(f) == 3 {
						zone.apply(f[0], f[1], f[2])
					} else {
						t.Errorf("hook logged %q", l)
					}
				}
				seen = len(lines)
				tmp := ack + ".tmp"
				if err := os.WriteFile(tmp, []byte(strconv.Itoa(seen)), 0o600); err != nil {
					t.Error(err)
				} else if err := os.Rename(tmp, ack); err != nil {
					t.Error(err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return seen
		case <-tick.C:
		}
	}
}

func TestIssueRefused(t *testing.T) {
	u := newUpstream(t)
	tests := []struct {
		name       string
		dir        string
		names      []string
		wantDetail string
	}{
		// The upstream's policy refuses the name at newOrder.
		{name: "upstream policy", dir: dirNarrow, names: []string{"denied.example.com"}, wantDetail: "denied.example.com"},
		// The upstream wants a challenge and no solver is configured.
		{name: "no solver", dir: dirDNS, names: []string{"nosolver.example.com"}, wantDetail: "no dns-01 solver"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			b := u.backend(t, tc.dir, acmeproxy.Config{})
			_, err := b.Issue(ctx, request(t, "refused", tc.names...))
			if !errors.Is(err, ca.Rejected) {
				t.Fatalf("Issue error = %v, want ca.Rejected", err)
			}
			var ce *ca.Error
			if !errors.As(err, &ce) || !strings.Contains(ce.Detail+ce.Upstream, tc.wantDetail) {
				t.Errorf("error %v does not mention %q", err, tc.wantDetail)
			}
		})
	}
}

func TestIssueIdempotent(t *testing.T) {
	u := newUpstream(t)
	ctx := testCtx(t)
	zone := newTXTZone(u.dns)
	calls := 0
	key := newKey(t)
	b := u.backend(t, dirDNS, acmeproxy.Config{
		AccountKey: key,
		DNS01: func(_ context.Context, action, fqdn, value string) error {
			calls++
			if calls == 1 {
				return errors.New("DNS provider down")
			}
			zone.apply(action, fqdn, value)
			return nil
		},
	})
	req := request(t, "retried-order", "retry.example.com")
	_, err := b.Issue(ctx, req)
	if ca.KindOf(err) != ca.Unavailable {
		t.Fatalf("first Issue = %v, want ca.Unavailable", err)
	}
	res := issue(ctx, t, b, req)
	u.checkChain(t, res, "retry.example.com")

	// The retry reused the upstream order instead of creating a second.
	c := &xacme.Client{Key: key, DirectoryURL: u.directoryURL(dirDNS), HTTPClient: u.client}
	acct, err := c.GetReg(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	n, err := u.store.CountOrders(ctx, dirDNS, path.Base(acct.URI), time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("upstream has %d orders for the account, want 1", n)
	}
}

func TestRevoke(t *testing.T) {
	u := newUpstream(t)
	ctx := testCtx(t)
	b := u.backend(t, dirSkip, acmeproxy.Config{})
	res := issue(ctx, t, b, request(t, "revoke-me", "revoke.example.com"))
	leaf := res.Chain[0]
	if err := b.Revoke(ctx, leaf, ca.ReasonSuperseded); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	got, err := u.store.GetCertificateBySerial(ctx, leaf.SerialNumber.Text(16))
	if err != nil {
		t.Fatalf("upstream certificate: %v", err)
	}
	if got.Status != storage.StatusRevoked || got.RevocationReason != int(ca.ReasonSuperseded) {
		t.Errorf("upstream certificate status %s reason %d, want revoked %d", got.Status, got.RevocationReason, ca.ReasonSuperseded)
	}
	// A second revocation meets the upstream's alreadyRevoked, which
	// x/crypto reports as success: revoking is idempotent.
	if err := b.Revoke(ctx, leaf, ca.ReasonSuperseded); err != nil {
		t.Errorf("second Revoke = %v, want nil", err)
	}
}

func TestNew(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name    string
		cfg     acmeproxy.Config
		wantErr bool
	}{
		{name: "minimal", cfg: acmeproxy.Config{DirectoryURL: "https://127.0.0.1/directory", AccountKey: key}},
		{name: "no directory", cfg: acmeproxy.Config{AccountKey: key}, wantErr: true},
		{name: "no key", cfg: acmeproxy.Config{DirectoryURL: "https://127.0.0.1/directory"}, wantErr: true},
		{name: "duplicate profile", cfg: acmeproxy.Config{DirectoryURL: "https://127.0.0.1/directory", AccountKey: key, Profiles: []ca.Profile{{Name: "a"}, {Name: "a"}}}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := acmeproxy.New(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New error = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if b.Name() != acmeproxy.DefaultName {
				t.Errorf("Name = %q, want %q", b.Name(), acmeproxy.DefaultName)
			}
			ps, _ := b.Profiles(context.Background())
			if len(ps) != 1 || ps[0].Name != "default" {
				t.Errorf("Profiles = %v, want one named default", ps)
			}
		})
	}
}
