package main

import (
	"strings"
	"testing"
	"time"
)

// TestAccountCacheConfig: storage.account_cache_ttl defaults to 60s, "0s"
// disables the cache (a negative acme.Config.AccountCacheTTL) and a
// negative TTL is refused.
func TestAccountCacheConfig(t *testing.T) {
	for _, tc := range []struct {
		body    string
		want    time.Duration
		wantErr string
	}{
		{"", time.Minute, ""},
		{"storage:\n  account_cache_ttl: 90s\n", 90 * time.Second, ""},
		{"storage:\n  account_cache_ttl: 0s\n", -1, ""},
		{"storage:\n  driver: postgres\n  url: postgres://db.example/acmegate\n  account_cache_ttl: 5m\n", 5 * time.Minute, ""},
		{"storage:\n  account_cache_ttl: -1s\n", 0, "storage.account_cache_ttl"},
		{"storage:\n  account_cache_ttl: soon\n", 0, "time.Duration"},
	} {
		cfg, err := loadConfig(writeConfig(t, tc.body))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("config %q: %v, want an error holding %q", tc.body, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("config %q: %v", tc.body, err)
			continue
		}
		if got := cfg.Storage.accountCacheTTL(); got != tc.want {
			t.Errorf("config %q: acme.Config.AccountCacheTTL %v, want %v", tc.body, got, tc.want)
		}
	}
	// A Config built in code, without loadConfig, gets the default.
	if got := (StorageConfig{}).accountCacheTTL(); got != time.Minute {
		t.Errorf("zero StorageConfig: %v, want 1m", got)
	}
}
