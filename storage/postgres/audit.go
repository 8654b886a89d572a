package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/acmegate/acmegate/storage"
)

const auditColumns = `seq, at, actor, directory, action, object, outcome, client_ip, detail, prev_hash, hash`

const (
	// The row lock on the chain head serializes appends across instances:
	// a concurrent append waits here until the holder commits, then reads
	// the head as the holder left it (READ COMMITTED re-reads a locked
	// row's latest version).
	sqlLockAuditHead = `SELECT seq, hash FROM audit_head FOR UPDATE`
	sqlInsertAudit   = `WITH head AS (
    UPDATE audit_head SET seq = $1, hash = $11)
INSERT INTO audit_log (` + auditColumns + `)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`
	sqlScanAudit = `SELECT ` + auditColumns + ` FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`
)

// AppendAudit chains e to the last entry and inserts it, in a transaction
// holding the chain head's row lock, so appends from every instance are
// serialized and the chain never forks. e is changed only once the entry
// is stored.
func (s *Store) AppendAudit(ctx context.Context, e *storage.AuditEntry) error {
	jn, err := newJournal(&storage.Journal{Audit: []*storage.AuditEntry{e}})
	if err != nil {
		return fmt.Errorf("postgres: append audit entry: %w", err)
	}
	// A transition of nothing: BEGIN, the lock, the insert with COMMIT.
	if err := s.transition(ctx, &pgx.Batch{}, execAll(0), jn); err != nil {
		return fmt.Errorf("postgres: append audit entry: %w", err)
	}
	return nil
}

// ListAudit returns one page of the entries matching f, newest (highest
// seq) first, keyset-paginated on seq.
func (s *Store) ListAudit(ctx context.Context, f storage.AuditFilter, p storage.Page) ([]*storage.AuditEntry, string, error) {
	query, args, limit, err := auditQuery(f, p)
	if err != nil {
		return nil, "", err
	}
	var out []*storage.AuditEntry
	more := false
	err = s.queryEach(ctx, func(rows pgx.Rows) error {
		if len(out) == limit {
			more = true
			return nil
		}
		e, err := scanAudit(rows)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	}, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("postgres: list audit: %w", err)
	}
	if !more {
		return out, "", nil
	}
	return out, encodeSeqCursor(out[len(out)-1].Seq), nil
}

// auditQuery builds the statement of one page of the entries f selects,
// newest first, asking for limit+1 rows.
func auditQuery(f storage.AuditFilter, p storage.Page) (query string, args []any, limit int, err error) {
	limit = pageLimit(p.Limit)
	var w where
	w.eq("directory", f.Directory)
	w.eq("actor", f.Actor)
	w.eq("object", f.Object)
	w.eq("outcome", f.Outcome)
	w.since("at", f.Since)
	w.before("at", f.Until)
	switch {
	case f.Action == "":
	case f.Action[len(f.Action)-1] == '.':
		// Bytewise ("C") comparison makes [prefix, prefix with its final
		// '.' raised to '/') exactly the actions starting with prefix, and
		// a range of audit_log_action.
		w.add(`action COLLATE "C" >= ? AND action COLLATE "C" < ?`,
			f.Action, f.Action[:len(f.Action)-1]+"/")
	default:
		w.add(`action COLLATE "C" = ?`, f.Action)
	}
	if p.Cursor != "" {
		seq, err := decodeSeqCursor(p.Cursor)
		if err != nil {
			return "", nil, 0, err
		}
		w.add("seq < ?", seq)
	}
	query = `SELECT ` + auditColumns + ` FROM audit_log` + w.sql() + ` ORDER BY seq DESC LIMIT ` + w.next(limit+1)
	return query, w.args, limit, nil
}

// ScanAudit returns up to limit entries with seq > after, by seq. A limit
// of 0 or less means 100; more than 1000 means 1000.
func (s *Store) ScanAudit(ctx context.Context, after int64, limit int) ([]*storage.AuditEntry, error) {
	var out []*storage.AuditEntry
	err := s.queryEach(ctx, func(rows pgx.Rows) error {
		e, err := scanAudit(rows)
		if err != nil {
			return err
		}
		out = append(out, e)
		return nil
	}, sqlScanAudit, after, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("postgres: scan audit: %w", err)
	}
	return out, nil
}

func scanAudit(r scanner) (*storage.AuditEntry, error) {
	var e storage.AuditEntry
	err := r.Scan(&e.Seq, scanTime(&e.At), &e.Actor, &e.Directory, &e.Action, &e.Object, &e.Outcome,
		&e.ClientIP, &e.Detail, &e.PrevHash, &e.Hash)
	if err != nil {
		return nil, err
	}
	return &e, nil
}
