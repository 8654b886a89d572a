package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/acmegate/acmegate/storage"
)

// journal is a storage.StagedJournal this store knows how to write.
type journal struct {
	*storage.StagedJournal
}

// newJournal stages j (storage.StageJournal).
func newJournal(j *storage.Journal) (*journal, error) {
	sj, err := storage.StageJournal(j)
	if err != nil {
		return nil, err
	}
	return &journal{sj}, nil
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
	jn.Publish()
	return nil
}

// write stores the journal in the transaction of q: the events, then the
// audit entries chained to the last one. It runs last in a transition, so
// that a refused transition never reads the chain.
func (jn *journal) write(ctx context.Context, q queryer) error {
	if err := insertEvents(ctx, q, jn.Events); err != nil {
		return err
	}
	return insertAudit(ctx, q, jn.Audit)
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
