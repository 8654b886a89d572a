package ca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/acmegate/acmegate/ca"
)

func TestKindOf(t *testing.T) {
	t.Parallel()
	rejected := ca.Errorf(ca.Rejected, "profile %q is unknown", "gold")
	tests := []struct {
		name      string
		err       error
		want      ca.Kind
		permanent bool
	}{
		{"nil", nil, 0, false},
		{"rejected", rejected, ca.Rejected, true},
		{"wrapped rejected", fmt.Errorf("backend x: %w", rejected), ca.Rejected, true},
		{"unavailable", &ca.Error{Kind: ca.Unavailable, Detail: "HTTP 503"}, ca.Unavailable, false},
		{"unsupported", ca.Errorf(ca.Unsupported, "no poll"), ca.Unsupported, true},
		{"already revoked", &ca.Error{Kind: ca.AlreadyRevoked}, ca.AlreadyRevoked, true},
		{"unclassified error is temporary", errors.New("connection reset"), ca.Unavailable, false},
		{"Error without a kind is temporary", &ca.Error{Detail: "?"}, ca.Unavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ca.KindOf(tt.err)
			if got != tt.want {
				t.Fatalf("KindOf = %v, want %v", got, tt.want)
			}
			if got.Permanent() != tt.permanent {
				t.Errorf("Permanent = %v, want %v", got.Permanent(), tt.permanent)
			}
			if tt.want != 0 && tt.want != ca.Unavailable && !errors.Is(tt.err, tt.want) {
				t.Errorf("errors.Is(err, %v) = false", tt.want)
			}
		})
	}
}

func TestErrorIsKindOnly(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("issue: %w", ca.Errorf(ca.Rejected, "too long"))
	if errors.Is(err, ca.Unavailable) {
		t.Error("a Rejected error matches ca.Unavailable")
	}
	if !errors.Is(err, ca.Rejected) {
		t.Error("a Rejected error does not match ca.Rejected")
	}
}

func TestErrorMessageAndUnwrap(t *testing.T) {
	t.Parallel()
	cause := errors.New("dial tcp: connection refused")
	err := &ca.Error{Kind: ca.Unavailable, Detail: "upstream unreachable", Upstream: "E42 maintenance", RetryAfter: time.Minute, Err: cause}
	want := "ca: unavailable: upstream unreachable (upstream: E42 maintenance): dial tcp: connection refused"
	if got := err.Error(); got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, cause) {
		t.Error("the cause is not reachable through Unwrap")
	}
}

func TestRevocationReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		r     ca.RevocationReason
		name  string
		valid bool
	}{
		{ca.ReasonUnspecified, "unspecified", true},
		{ca.ReasonKeyCompromise, "keyCompromise", true},
		{ca.ReasonCACompromise, "cACompromise", true},
		{ca.ReasonAffiliationChanged, "affiliationChanged", true},
		{ca.ReasonSuperseded, "superseded", true},
		{ca.ReasonCessationOfOperation, "cessationOfOperation", true},
		{ca.ReasonCertificateHold, "certificateHold", true},
		{7, "reason(7)", false},
		{ca.ReasonRemoveFromCRL, "removeFromCRL", true},
		{ca.ReasonPrivilegeWithdrawn, "privilegeWithdrawn", true},
		{ca.ReasonAACompromise, "aACompromise", true},
		{11, "reason(11)", false},
		{-1, "reason(-1)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			if got := tt.r.Valid(); got != tt.valid {
				t.Errorf("Valid() = %v, want %v", got, tt.valid)
			}
		})
	}
	// The values are the RFC 5280 §5.3.1 wire codes.
	if ca.ReasonKeyCompromise != 1 || ca.ReasonRemoveFromCRL != 8 || ca.ReasonAACompromise != 10 {
		t.Error("reason constants do not match RFC 5280 §5.3.1")
	}
}

func TestChainPEM(t *testing.T) {
	t.Parallel()
	chain := []*x509.Certificate{selfSigned(t, "leaf"), selfSigned(t, "issuer")}
	out := ca.ChainPEM(chain)
	var names []string
	for rest := out; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			if len(strings.TrimSpace(string(rest))) != 0 {
				t.Fatalf("trailing data after PEM blocks: %q", rest)
			}
			break
		}
		if b.Type != "CERTIFICATE" {
			t.Fatalf("block type %q, want CERTIFICATE", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, c.Subject.CommonName)
	}
	if strings.Join(names, ",") != "leaf,issuer" {
		t.Errorf("chain order %v, want [leaf issuer]", names)
	}
	if got := ca.ChainPEM(nil); len(got) != 0 {
		t.Errorf("ChainPEM(nil) = %q, want empty", got)
	}
}

func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now(),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
