package policy

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"sync"
	"testing"
)

// testRSA holds the one RSA-2048 key the tests share: generating RSA keys
// is slow, under the race detector most of all. Tests derive every other
// RSA public key they need from it.
var testRSA struct {
	once sync.Once
	key  *rsa.PrivateKey
	err  error
}

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	testRSA.once.Do(func() {
		testRSA.key, testRSA.err = rsa.GenerateKey(rand.Reader, 2048)
	})
	if testRSA.err != nil {
		t.Fatalf("generating the test RSA key: %v", testRSA.err)
	}
	return testRSA.key
}

func newPolicy(t *testing.T, cfg Config) *Policy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return p
}

// wantErr describes an expected *Error. Detail is a substring of the
// error's detail, chosen to identify the rule that fired.
type wantErr struct {
	Kind   Kind
	Detail string
	Sub    []wantSub
}

// wantSub describes an expected sub-error.
type wantSub struct {
	Kind   Kind
	ID     Identifier
	Detail string
}

// checkError fails the test unless err is an *Error matching want.
func checkError(t *testing.T, err error, want wantErr) {
	t.Helper()
	var got *Error
	if !errors.As(err, &got) {
		t.Fatalf("error = %v (%T), want a *policy.Error", err, err)
	}
	if got.Kind != want.Kind {
		t.Errorf("kind = %q, want %q (error: %v)", got.Kind, want.Kind, got)
	}
	if !strings.Contains(got.Detail, want.Detail) {
		t.Errorf("detail = %q, want it to contain %q", got.Detail, want.Detail)
	}
	if len(got.Sub) != len(want.Sub) {
		t.Fatalf("%d sub-errors, want %d: %v", len(got.Sub), len(want.Sub), got.Sub)
	}
	for i, w := range want.Sub {
		g := got.Sub[i]
		if g.Kind != w.Kind {
			t.Errorf("sub[%d] kind = %q, want %q", i, g.Kind, w.Kind)
		}
		if g.Identifier == nil || *g.Identifier != w.ID {
			t.Errorf("sub[%d] identifier = %v, want %v", i, g.Identifier, w.ID)
		}
		if !strings.Contains(g.Detail, w.Detail) {
			t.Errorf("sub[%d] detail = %q, want it to contain %q", i, g.Detail, w.Detail)
		}
		if len(g.Sub) != 0 {
			t.Errorf("sub[%d] has sub-errors of its own: %v", i, g.Sub)
		}
	}
}
