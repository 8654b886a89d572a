package policy

import (
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring; "" for success
	}{
		{name: "zero config", cfg: Config{}},
		{name: "full config", cfg: Config{MaxNames: 10, RSAMinBits: 3072, RSAMaxBits: 16384, AccountCurves: []string{"P-256"}, CertificateCurves: []string{"P-256", "P-384", "P-521"}}},
		{name: "negative MaxNames", cfg: Config{MaxNames: -1}, wantErr: "MaxNames -1 is negative"},
		{name: "RSA minimum below 2048", cfg: Config{RSAMinBits: 1024}, wantErr: "RSAMinBits 1024 is below 2048"},
		{name: "RSA maximum above 16384", cfg: Config{RSAMaxBits: 16392}, wantErr: "RSAMaxBits 16392 is above 16384"},
		{name: "RSA minimum above the default maximum", cfg: Config{RSAMinBits: 9000}, wantErr: "RSAMinBits 9000 is above RSAMaxBits 8192"},
		{name: "RSA minimum above the maximum", cfg: Config{RSAMinBits: 4096, RSAMaxBits: 3072}, wantErr: "RSAMinBits 4096 is above RSAMaxBits 3072"},
		{name: "misspelt account curve", cfg: Config{AccountCurves: []string{"P256"}}, wantErr: `AccountCurves: unknown curve "P256"`},
		{name: "P-224 certificate curve", cfg: Config{CertificateCurves: []string{"P-256", "P-224"}}, wantErr: `CertificateCurves: unknown curve "P-224"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil || p == nil {
					t.Fatalf("New(%+v) = %v, %v; want a policy", tc.cfg, p, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New(%+v) error = %v, want it to contain %q", tc.cfg, err, tc.wantErr)
			}
			if p != nil {
				t.Errorf("New(%+v) returned a policy with an error", tc.cfg)
			}
		})
	}
}
