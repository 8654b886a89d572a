package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

var _ storage.AccountWatcher = (*Store)(nil)

// accountPoll is how often WatchAccounts reads the account epoch.
const accountPoll = time.Second

// sqlAccountEpoch reads the counter the triggers of migration 0006 bump in
// the transaction of every change of an account row.
const sqlAccountEpoch = `SELECT n FROM account_epoch WHERE id = 1`

// WatchAccounts implements storage.AccountWatcher.
//
// Changes through this Store call fn(id) before the method returns. Another
// process sharing the file (the acmegate CLI revoking an EAB key with its
// accounts, a second server) cannot call into this one: every change of an
// account row bumps a counter in its transaction (the triggers of migration
// 0006), which WatchAccounts reads every second on the read pool, one row
// by its key, calling fn("") when it moved. Another process's change
// reaches fn within about a second. The first fn("") comes after the first
// read. This process's own changes move the counter too, so each of them
// also costs the caller a fn("") at the next read: account changes are
// rare next to account reads. A failed read ends WatchAccounts with its
// error. A cache that must see another process's change at once reads the
// same counter at every lookup (AccountEpoch).
func (s *Store) WatchAccounts(ctx context.Context, fn func(accountID string)) error {
	unsubscribe := s.feed.Subscribe(fn)
	defer unsubscribe()
	read := func() (int64, error) {
		rctx, cancel := context.WithTimeout(ctx, accountPoll)
		defer cancel()
		n, err := s.AccountEpoch(rctx)
		if err != nil && ctx.Err() != nil {
			return 0, ctx.Err()
		}
		return n, err
	}
	last, err := read()
	if err != nil {
		return err
	}
	fn("")
	t := time.NewTicker(accountPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		n, err := read()
		if err != nil {
			return err
		}
		if n != last {
			last = n
			fn("")
		}
	}
}

var _ storage.AccountEpochReader = (*Store)(nil)

// AccountEpoch implements storage.AccountEpochReader: the counter of
// account changes (migration 0006), one row read by its key on the read
// pool, a few microseconds.
func (s *Store) AccountEpoch(ctx context.Context) (int64, error) {
	var n int64
	if err := s.reader().queryRow(ctx, sqlAccountEpoch).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: read the account epoch: %w", err)
	}
	return n, nil
}
