package acme

import (
	"time"

	"github.com/acmegate/acmegate/storage"
)

// Statuses are derived on read, never written by a read (STYLE.md): storage
// keeps what happened, these pure functions say what it means now.

// authzStatus is an authorization's status at now (RFC 8555 §7.1.6): a
// pending or valid authorization past its expiry is expired.
func authzStatus(a *storage.Authorization, now time.Time) storage.Status {
	switch a.Status {
	case storage.StatusPending, storage.StatusValid:
		if !now.Before(a.Expires) {
			return storage.StatusExpired
		}
	}
	return a.Status
}

// orderStatus is an order's status at now given its authorizations
// (RFC 8555 §7.1.6):
//   - processing, valid and invalid are stored and final for this function;
//   - an expired order, or one with an invalid, deactivated or expired
//     authorization, is invalid;
//   - an order whose authorizations are all valid is ready;
//   - otherwise it is pending.
func orderStatus(o *storage.Order, authzs []*storage.Authorization, now time.Time) storage.Status {
	switch o.Status {
	case storage.StatusProcessing, storage.StatusValid, storage.StatusInvalid:
		return o.Status
	}
	if !now.Before(o.Expires) {
		return storage.StatusInvalid
	}
	allValid := true
	for _, a := range authzs {
		switch authzStatus(a, now) {
		case storage.StatusInvalid, storage.StatusDeactivated, storage.StatusExpired, storage.StatusRevoked:
			return storage.StatusInvalid
		case storage.StatusValid:
		default:
			allValid = false
		}
	}
	if allValid {
		return storage.StatusReady
	}
	return storage.StatusPending
}
