package acme

import (
	"testing"
	"time"

	"github.com/acmegate/acmegate/storage"
)

func TestOrderStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	later, earlier := now.Add(time.Hour), now.Add(-time.Hour)
	authz := func(st storage.Status, expires time.Time) *storage.Authorization {
		return &storage.Authorization{Status: st, Expires: expires}
	}
	cases := []struct {
		name   string
		stored storage.Status
		exp    time.Time
		authzs []*storage.Authorization
		want   storage.Status
	}{
		{"all pending", storage.StatusPending, later, []*storage.Authorization{authz(storage.StatusPending, later), authz(storage.StatusPending, later)}, storage.StatusPending},
		{"some valid", storage.StatusPending, later, []*storage.Authorization{authz(storage.StatusValid, later), authz(storage.StatusPending, later)}, storage.StatusPending},
		{"all valid is ready", storage.StatusPending, later, []*storage.Authorization{authz(storage.StatusValid, later), authz(storage.StatusValid, later)}, storage.StatusReady},
		{"one invalid", storage.StatusPending, later, []*storage.Authorization{authz(storage.StatusValid, later), authz(storage.StatusInvalid, later)}, storage.StatusInvalid},
		{"one deactivated", storage.StatusPending, later, []*storage.Authorization{authz(storage.StatusDeactivated, later)}, storage.StatusInvalid},
		{"valid authz expired", storage.StatusPending, later, []*storage.Authorization{authz(storage.StatusValid, earlier)}, storage.StatusInvalid},
		{"pending authz expired", storage.StatusPending, later, []*storage.Authorization{authz(storage.StatusPending, now)}, storage.StatusInvalid},
		{"order expired", storage.StatusPending, earlier, []*storage.Authorization{authz(storage.StatusValid, later)}, storage.StatusInvalid},
		{"processing stays", storage.StatusProcessing, earlier, []*storage.Authorization{authz(storage.StatusValid, earlier)}, storage.StatusProcessing},
		{"valid stays", storage.StatusValid, earlier, nil, storage.StatusValid},
		{"invalid stays", storage.StatusInvalid, later, []*storage.Authorization{authz(storage.StatusValid, later)}, storage.StatusInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := &storage.Order{Status: tc.stored, Expires: tc.exp}
			if got := orderStatus(o, tc.authzs, now); got != tc.want {
				t.Errorf("orderStatus = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestAuthzStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		stored  storage.Status
		expires time.Time
		want    storage.Status
	}{
		{storage.StatusPending, now.Add(time.Second), storage.StatusPending},
		{storage.StatusPending, now, storage.StatusExpired},
		{storage.StatusValid, now.Add(time.Second), storage.StatusValid},
		{storage.StatusValid, now.Add(-time.Second), storage.StatusExpired},
		{storage.StatusInvalid, now.Add(-time.Second), storage.StatusInvalid},
		{storage.StatusDeactivated, now.Add(-time.Second), storage.StatusDeactivated},
	}
	for _, tc := range cases {
		a := &storage.Authorization{Status: tc.stored, Expires: tc.expires}
		if got := authzStatus(a, now); got != tc.want {
			t.Errorf("authzStatus(%s, expires %s) = %s, want %s", tc.stored, tc.expires.Sub(now), got, tc.want)
		}
	}
}
