package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

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

// queueEvents queues the insert of the journal's events, if any, on b, and
// reports whether it did.
func (jn *journal) queueEvents(b *pgx.Batch) bool {
	if len(jn.Events) == 0 {
		return false
	}
	b.Queue(sqlInsertEvents, eventArgs(jn.Events)...)
	return true
}

// eventArgs are the arguments of sqlInsertEvents for events.
func eventArgs(events []*storage.OrderEvent) []any {
	n := len(events)
	orders, authzs, kinds, actors, idents, details, requests :=
		make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n),
		make([]string, n)
	ats := make([]time.Time, n)
	for i, e := range events {
		orders[i], authzs[i], ats[i], kinds[i] = e.OrderID, e.AuthzID, e.At, e.Kind
		actors[i], idents[i], details[i], requests[i] = e.Actor, e.Identifier, e.Detail, e.RequestID
	}
	return []any{orders, authzs, ats, kinds, actors, idents, details, requests}
}

// lockAndChain chains the journal's entries, in order, to the chain head and
// queues their inserts on b, which must run in the transaction tx that
// locked the head. The head's row lock serializes appends across
// instances: a concurrent append waits until the holder commits, then reads
// the head as the holder left it (READ COMMITTED re-reads a locked row's
// latest version).
func (jn *journal) lockAndChain(ctx context.Context, tx queryRower, b *pgx.Batch) error {
	if len(jn.Audit) == 0 {
		return nil
	}
	var last int64
	var prev []byte
	if err := tx.QueryRow(ctx, sqlLockAuditHead).Scan(&last, &prev); err != nil {
		return fmt.Errorf("lock the audit chain head: %w", err)
	}
	for i := range jn.Audit {
		e := &jn.Audit[i]
		e.Seq, e.PrevHash = last+1, prev
		e.Hash = storage.AuditHash(e)
		b.Queue(sqlInsertAudit, e.Seq, e.At, e.Actor, e.Directory, e.Action, e.Object,
			e.Outcome, e.ClientIP, e.Detail, e.PrevHash, e.Hash)
		last, prev = e.Seq, e.Hash
	}
	return nil
}

// queryRower is a pgx.Tx or a *pgx.Conn inside a transaction.
type queryRower interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// verdict reads the results of the statements a caller queued on a batch
// (and only those), returning an error to roll the transaction back:
// ErrNotFound or ErrConflict when the transition was refused.
type verdict func(br pgx.BatchResults) error

// transition runs b, then jn, in one transaction: a method's state change
// and what it records about itself commit together or not at all. read
// reads b's results. The transaction takes three round trips, or two
// without audit entries, where BEGIN, b, the chain head's lock, the
// inserts and COMMIT would take five:
//
//  1. BEGIN, b and the insert of jn's events, pipelined;
//  2. the audit chain head's row lock, taken only once the transition
//     succeeded and as late as possible, because every audited write of
//     every instance waits for it;
//  3. the audit entries, chained to the head, and COMMIT, pipelined.
//
// jn's entries are published once committed. A connection left inside a
// transaction by an error is rolled back, or destroyed by the pool when
// that fails too (pgxpool never reuses one that is not idle).
func (s *Store) transition(ctx context.Context, b *pgx.Batch, read verdict, jn *journal) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return s.fail(err)
	}
	defer conn.Release()
	defer func() {
		if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
			// The caller's context may be what failed: the rollback must
			// still run, bounded by its own deadline.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
			if _, rerr := conn.Exec(rctx, "ROLLBACK"); rerr != nil {
				// The pool destroys the connection, still in its
				// transaction, instead of reusing it.
				err = errors.Join(err, s.fail(fmt.Errorf("roll back: %w", rerr)))
			}
		}
	}()

	first := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, b.Len()+2)}
	first.Queue("BEGIN")
	first.QueuedQueries = append(first.QueuedQueries, b.QueuedQueries...)
	events := jn.queueEvents(first)
	// Once a statement failed, closing the batch reports the same error
	// again: only a failure to close after success is news.
	br := conn.SendBatch(ctx, first)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return s.fail(err)
	}
	if err := read(br); err != nil {
		// What the rest of the batch did no longer matters: the deferred
		// rollback undoes all of it.
		br.Close()
		return s.fail(err)
	}
	if events {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("journal: %w", s.fail(err))
		}
	}
	if err := br.Close(); err != nil {
		return s.fail(err)
	}

	last := &pgx.Batch{}
	if len(jn.Audit) > 0 {
		if err := jn.lockAndChain(ctx, conn.Conn(), last); err != nil {
			return s.fail(err)
		}
	}
	last.Queue("COMMIT")
	br = conn.SendBatch(ctx, last)
	for range last.Len() - 1 {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return fmt.Errorf("journal: append audit: %w", s.fail(err))
		}
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("commit: %w", s.fail(err))
	}
	if tag.String() != "COMMIT" {
		// COMMIT of a failed transaction answers ROLLBACK, not an error.
		return fmt.Errorf("commit: the transaction was rolled back (%s)", tag)
	}
	jn.Publish()
	return nil
}

// rollbackTimeout bounds the rollback of a failed transition.
const rollbackTimeout = 5 * time.Second

// guardedVerdict reads the answer of a guarded statement (see guarded).
func guardedVerdict(kind, id, why string) verdict {
	return func(br pgx.BatchResults) error {
		var found, changed bool
		if err := br.QueryRow().Scan(&found, &changed); err != nil {
			return err
		}
		switch {
		case !found:
			return notFound(kind, id)
		case !changed:
			return conflict(kind, id, why)
		}
		return nil
	}
}

// guardedJournal is guarded with a journal: the statement alone, in one
// round trip, when jn is empty; a transaction with jn otherwise.
func (s *Store) guardedJournal(ctx context.Context, j *storage.Journal, what, kind, id, why, sql string, args ...any) error {
	jn, err := newJournal(j)
	if err != nil {
		return fmt.Errorf("postgres: %s %q: %w", what, id, err)
	}
	if jn.Empty() {
		return s.guarded(ctx, what, kind, id, why, sql, args...)
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	if err := s.transition(ctx, b, guardedVerdict(kind, id, why), jn); err != nil {
		return fmt.Errorf("postgres: %s %q: %w", what, id, err)
	}
	return nil
}
