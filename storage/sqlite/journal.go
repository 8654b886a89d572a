package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// journal is a storage.Journal on its way into a transaction: its events
// checked and its audit entries copied, so that the caller's entries change
// only once the transaction has committed (publish).
type journal struct {
	events []*storage.OrderEvent
	audit  []storage.AuditEntry
	dst    []*storage.AuditEntry
}

// newJournal checks j before anything is written: an ownerless event is
// refused. A nil or empty j gives an empty journal.
func newJournal(j *storage.Journal) (*journal, error) {
	if j == nil {
		return &journal{}, nil
	}
	if err := checkEvents(j.Events); err != nil {
		return nil, err
	}
	jn := &journal{events: j.Events, dst: j.Audit, audit: make([]storage.AuditEntry, len(j.Audit))}
	for i, e := range j.Audit {
		jn.audit[i] = *e
		jn.audit[i].At = e.At.UTC().Truncate(time.Microsecond)
	}
	return jn, nil
}

// transition runs fn, then writes j, in one write transaction: a method's
// state change and what it records about itself commit together or not at
// all, for one commit. what and id name the method in errors. j's audit
// entries are updated once the transaction has committed.
func (s *Store) transition(ctx context.Context, what, id string, j *storage.Journal, fn func(q queryer) error) error {
	jn, err := newJournal(j)
	if err != nil {
		return fmt.Errorf("sqlite: %s %q: %w", what, id, err)
	}
	err = s.inWrite(ctx, func(q queryer) error {
		if err := fn(q); err != nil {
			return err
		}
		if err := jn.write(ctx, q); err != nil {
			return fmt.Errorf("sqlite: %s %q: journal: %w", what, id, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	jn.publish()
	return nil
}

// checkEvents refuses an event of neither an order nor an authorization.
func checkEvents(events []*storage.OrderEvent) error {
	for _, e := range events {
		if e.OrderID == "" && e.AuthzID == "" {
			return errEventOwnerless
		}
	}
	return nil
}

// write stores the journal in the transaction of q: the events, then the
// audit entries chained to the last one. It runs last in a transition, so
// that a refused transition never reads the chain.
func (jn *journal) write(ctx context.Context, q queryer) error {
	if err := insertEvents(ctx, q, jn.events); err != nil {
		return err
	}
	return insertAudit(ctx, q, jn.audit)
}

// publish sets Seq, PrevHash and Hash on the caller's entries; call it
// once the transaction has committed.
func (jn *journal) publish() {
	for i, e := range jn.dst {
		*e = jn.audit[i]
	}
}

// insertEvents inserts events in the order given.
func insertEvents(ctx context.Context, q queryer, events []*storage.OrderEvent) error {
	for _, e := range events {
		_, err := q.exec(ctx, sqlInsertEvent,
			e.OrderID, e.AuthzID, tval(e.At), e.Kind, e.Actor, e.Identifier, e.Detail, e.RequestID)
		if err != nil {
			return err
		}
	}
	return nil
}

// insertAudit chains entries, in the order given, to the last entry of the
// log and inserts them, setting their Seq, PrevHash and Hash. Every write
// runs on the single write connection inside BEGIN IMMEDIATE, which holds
// the file's write lock from the start, so appends from this store and
// from any other process on the file are serialized: the chain never forks.
func insertAudit(ctx context.Context, q queryer, entries []storage.AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	var last int64
	var prev []byte
	err := q.queryRow(ctx, sqlLastAudit).Scan(&last, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	for i := range entries {
		e := &entries[i]
		e.Seq, e.PrevHash = last+1, prev
		e.Hash = storage.AuditHash(e)
		_, err = q.exec(ctx, sqlInsertAudit,
			e.Seq, tval(e.At), e.Actor, e.Directory, e.Action, e.Object,
			e.Outcome, e.ClientIP, e.Detail, e.PrevHash, e.Hash)
		if err != nil {
			return err
		}
		last, prev = e.Seq, e.Hash
	}
	return nil
}
