package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Group commit. Every write transaction of the store goes to one goroutine
// that owns the single write connection. When several are waiting it runs
// them in one SQLite transaction, each inside its own SAVEPOINT, and
// commits once: a method that fails is rolled back to its savepoint alone,
// and every caller returns only once the commit that holds its writes is
// done, so a method's contract (all or nothing, durable on return) is
// unchanged. What it saves is one BEGIN and one COMMIT per write, and the
// WAL frames of pages several writes dirty (the last leaf of an index, of
// the audit log), written once per commit instead of once per write.
// Concurrent requests cost less each; one request at a time pays a
// goroutine hand-off, a few microseconds.
//
// A write that started runs to its end whatever its caller's context says:
// an interrupted statement would make SQLite roll back the whole shared
// transaction. A caller that gives up before its write starts gets its
// context's error and its write never runs.

// maxBatch bounds how many writes share one commit, so that one commit
// never holds the lock for long.
const maxBatch = 64

// errClosed answers writes after Close.
var errClosed = errors.New("sqlite: store is closed")

// Write request states.
const (
	reqQueued int32 = iota
	reqStarted
	reqAbandoned
)

type writeRequest struct {
	ctx   context.Context
	fn    func(q queryer) error
	state atomic.Int32
	done  chan writeResult
}

type writeResult struct {
	err error
	// panicked and panicValue carry a panic of fn to its caller's
	// goroutine.
	panicked   bool
	panicValue any
}

// committer owns the write connection.
type committer struct {
	db    *sql.DB
	stmts map[string]*sql.Stmt
	reqs  chan *writeRequest
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newCommitter(db *sql.DB, stmts map[string]*sql.Stmt) *committer {
	c := &committer{db: db, stmts: stmts, reqs: make(chan *writeRequest), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// close stops the committer once the batch it runs, if any, is done.
func (c *committer) close() {
	c.once.Do(func() { close(c.stop) })
	<-c.done
}

// write runs fn in a write transaction, possibly shared with others.
func (c *committer) write(ctx context.Context, fn func(q queryer) error) error {
	r := &writeRequest{ctx: ctx, fn: fn, done: make(chan writeResult, 1)}
	select {
	case c.reqs <- r:
	case <-c.stop:
		return errClosed
	case <-ctx.Done():
		return fmt.Errorf("sqlite: begin: %w", ctx.Err())
	}
	var res writeResult
	select {
	case res = <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return fmt.Errorf("sqlite: begin: %w", ctx.Err())
		}
		res = <-r.done // started: its outcome is known soon
	}
	if res.panicked {
		panic(res.panicValue)
	}
	return res.err
}

func (c *committer) run() {
	defer close(c.done)
	batch := make([]*writeRequest, 0, maxBatch)
	for {
		var first *writeRequest
		select {
		case first = <-c.reqs:
		case <-c.stop:
			return
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case r := <-c.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		c.commit(batch)
	}
}

// commit runs the batch's live requests in one transaction and answers
// each.
func (c *committer) commit(batch []*writeRequest) {
	live := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqStarted) {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	results := make([]writeResult, len(live))
	answer := func() {
		for i, r := range live {
			r.done <- results[i]
		}
	}
	defer answer()
	ctx := context.Background()
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		for i := range results {
			results[i].err = fmt.Errorf("sqlite: begin: %w", err)
		}
		return
	}
	single := len(live) == 1
	var aborted error
	ok := 0
	for i, r := range live {
		if !single {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT w`); err != nil {
				aborted = err
				break
			}
		}
		res := call(r.fn, queryer{stmts: c.stmts, tx: tx, ctx: context.WithoutCancel(r.ctx)})
		results[i] = res
		if res.panicked {
			// The caller's goroutine panics; nothing of the batch is
			// committed, as it would not be had the write run alone.
			aborted = errors.New("another write of the same commit panicked")
			break
		}
		if single {
			break
		}
		if res.err != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO w`); err != nil {
				// SQLite rolled the whole transaction back (an I/O error,
				// a full disk): nothing is left to commit.
				aborted = err
				break
			}
		} else {
			ok++
		}
		if _, err := tx.ExecContext(ctx, `RELEASE w`); err != nil {
			aborted = err
			break
		}
	}
	if single && results[0].err == nil && !results[0].panicked {
		ok = 1
	}
	if aborted != nil || ok == 0 {
		if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) && aborted == nil {
			aborted = err
		}
		if aborted != nil {
			for i := range results {
				if results[i].err == nil && !results[i].panicked {
					results[i].err = fmt.Errorf("sqlite: write rolled back: %w", aborted)
				}
			}
		}
		return
	}
	if err := tx.Commit(); err != nil {
		for i := range results {
			if results[i].err == nil {
				results[i].err = fmt.Errorf("sqlite: commit: %w", classify(err))
			}
		}
	}
}

// call runs fn, turning a panic into a result.
func call(fn func(q queryer) error, q queryer) (res writeResult) {
	defer func() {
		if v := recover(); v != nil {
			res = writeResult{panicked: true, panicValue: v}
		}
	}()
	return writeResult{err: fn(q)}
}
