package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

var _ storage.AccountWatcher = (*Store)(nil)

// accountsChannel is the NOTIFY channel the trigger of migration 0006
// sends the id of every changed account on.
const accountsChannel = "acmegate_accounts"

// Liveness of the listening connection: one silent for watchIdlePing is
// pinged, with a timeout of watchPingTimeout. A peer gone without closing
// the connection (a partition, a failover that did not reset it) would
// otherwise go unnoticed, and its notifications unheard, until TCP
// keepalive gives up minutes later.
const (
	watchIdlePing    = 5 * time.Second
	watchPingTimeout = 2 * time.Second
)

// WatchAccounts implements storage.AccountWatcher.
//
// Changes through this Store call fn(id) before the method returns. Every
// change of an account row, by any process, sends its id on the channel
// acmegate_accounts when it commits (the trigger of migration 0006).
// WatchAccounts LISTENs to it on a connection of its own, outside the pool
// and its MaxConns (one more connection to the server per watcher; its
// application_name is the store's suffixed with " accounts"), calls fn("")
// once listening and fn(id) for every notification: another instance's
// change reaches fn within the NOTIFY latency, milliseconds. It returns
// the error when that connection fails (a connection silent for 5 s is
// pinged, so one whose peer vanished without closing it fails within
// about 7 s); the caller drops what it cached and calls it again.
func (s *Store) WatchAccounts(ctx context.Context, fn func(accountID string)) error {
	unsubscribe := s.feed.Subscribe(fn)
	defer unsubscribe()
	return s.listenAccounts(ctx, fn)
}

// listenAccounts opens a connection, LISTENs on accountsChannel, calls
// fn(""), then fn(id) for every notification, until the connection fails or
// ctx ends.
func (s *Store) listenAccounts(ctx context.Context, fn func(string)) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] += " accounts"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("postgres: connect the account change feed: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), watchPingTimeout)
		defer cancel()
		_ = conn.Close(cctx) // the connection is done with either way
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+accountsChannel); err != nil {
		return fmt.Errorf("postgres: listen on %s: %w", accountsChannel, err)
	}
	// Whatever changed before LISTEN took effect went unheard.
	fn("")
	for {
		wctx, cancel := context.WithTimeout(ctx, watchIdlePing)
		n, err := conn.WaitForNotification(wctx)
		idle := errors.Is(wctx.Err(), context.DeadlineExceeded)
		cancel()
		switch {
		case err == nil:
			if n.Channel == accountsChannel {
				fn(n.Payload)
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case idle:
			// Silent for watchIdlePing: check the server is still there.
			// A notification arriving meanwhile is kept by pgx for the
			// next WaitForNotification.
			pctx, cancel := context.WithTimeout(ctx, watchPingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("postgres: ping the account change feed: %w", err)
			}
		default:
			return fmt.Errorf("postgres: account change feed: %w", err)
		}
	}
}
