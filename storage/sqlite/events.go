package sqlite

import (
	"context"
	"fmt"

	"github.com/acmegate/acmegate/storage"
)

const eventColumns = `order_id, authz_id, at, kind, actor, identifier, detail, request_id`

const (
	sqlInsertEvent = `INSERT INTO order_events (` + eventColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	// Each branch is a range of one partial index; UNION drops an event
	// that matches both (an authorization's event recorded with the order).
	// seq, the insertion order, orders the events of one instant. The
	// repeated <> '' conditions let SQLite use the partial indexes, and
	// keep an empty order id from matching the events of no order.
	sqlListOrderEvents = `SELECT seq, ` + eventColumns + ` FROM order_events
WHERE order_id = ?1 AND order_id <> ''
UNION
SELECT seq, ` + eventColumns + ` FROM order_events
WHERE authz_id IN (SELECT value FROM json_each(?2)) AND authz_id <> ''
ORDER BY at, seq`
)

// AppendOrderEvents stores events in one transaction, in the order given:
// of events of the same instant, the earlier argument is listed first.
func (s *Store) AppendOrderEvents(ctx context.Context, events ...*storage.OrderEvent) error {
	if err := storage.CheckEvents(events); err != nil {
		return fmt.Errorf("sqlite: append order events: %w", err)
	}
	if len(events) == 0 {
		return nil
	}
	err := s.inWrite(ctx, func(q queryer) error { return insertEvents(ctx, q, events) })
	if err != nil {
		return fmt.Errorf("sqlite: append order events: %w", err)
	}
	return nil
}

// ListOrderEvents returns the events of order orderID and of the
// authorizations authzIDs, oldest first, events of one instant in the order
// they were appended.
func (s *Store) ListOrderEvents(ctx context.Context, orderID string, authzIDs []string) ([]*storage.OrderEvent, error) {
	out, err := queryAll(ctx, s.reader(), scanEvent, sqlListOrderEvents, orderID, jval(nonNil(authzIDs)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: list events of order %q: %w", orderID, err)
	}
	return out, nil
}

func scanEvent(r scanner) (*storage.OrderEvent, error) {
	var e storage.OrderEvent
	var seq int64
	err := r.Scan(&seq, &e.OrderID, &e.AuthzID, tscan(&e.At), &e.Kind, &e.Actor, &e.Identifier, &e.Detail,
		&e.RequestID)
	if err != nil {
		return nil, err
	}
	return &e, nil
}
