package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const eventColumns = `order_id, authz_id, at, kind, actor, identifier, detail, request_id`

const (
	// One statement inserts any number of events: the arrays travel as
	// parameters, so the text is prepared once. ORDER BY the ordinality
	// makes seq follow the order of the arguments.
	sqlInsertEvents = `INSERT INTO order_events (` + eventColumns + `)
SELECT o, a, t, k, ac, i, d, r
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[],
    $8::text[])
    WITH ORDINALITY AS e (o, a, t, k, ac, i, d, r, n)
ORDER BY n`
	// Each branch is a range of one partial index; UNION drops an event
	// that matches both (an authorization's event recorded with the order).
	// seq orders the events of one instant. The repeated <> '' conditions
	// let generic plans use the partial indexes, and keep an empty order id
	// from matching the events of no order.
	sqlListOrderEvents = `SELECT ` + eventColumns + ` FROM (
    SELECT seq, ` + eventColumns + ` FROM order_events WHERE order_id = $1 AND order_id <> ''
    UNION
    SELECT seq, ` + eventColumns + ` FROM order_events WHERE authz_id = ANY ($2::text[]) AND authz_id <> ''
) e
ORDER BY at, seq`
)

// AppendOrderEvents stores events in one statement, in the order given: of
// events of the same instant, the earlier argument is listed first.
func (s *Store) AppendOrderEvents(ctx context.Context, events ...*storage.OrderEvent) error {
	if err := storage.CheckEvents(events); err != nil {
		return fmt.Errorf("postgres: append order events: %w", err)
	}
	if len(events) == 0 {
		return nil
	}
	if _, err := s.exec(ctx, sqlInsertEvents, eventArgs(events)...); err != nil {
		return fmt.Errorf("postgres: append order events: %w", err)
	}
	return nil
}

// ListOrderEvents returns the events of order orderID and of the
// authorizations authzIDs, oldest first, events of one instant in the order
// they were appended.
func (s *Store) ListOrderEvents(ctx context.Context, orderID string, authzIDs []string) ([]*storage.OrderEvent, error) {
	var out []*storage.OrderEvent
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		var e storage.OrderEvent
		err := rows.Scan(&e.OrderID, &e.AuthzID, scanTime(&e.At), &e.Kind, &e.Actor, &e.Identifier, &e.Detail,
			&e.RequestID)
		if err != nil {
			return err
		}
		out = append(out, &e)
		return nil
	}, sqlListOrderEvents, orderID, nonNil(authzIDs))
	if err != nil {
		return nil, fmt.Errorf("postgres: list events of order %q: %w", orderID, err)
	}
	return out, nil
}
