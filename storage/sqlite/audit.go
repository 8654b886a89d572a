package sqlite

import (
	"context"
	"fmt"

	"github.com/acmegate/acmegate/storage"
)

const auditColumns = `seq, at, actor, directory, action, object, outcome, client_ip, detail, prev_hash, hash`

const (
	// seq is the rowid: the last entry is the end of the table's b-tree.
	sqlLastAudit   = `SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1`
	sqlInsertAudit = `INSERT INTO audit_log (` + auditColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlScanAudit   = `SELECT ` + auditColumns + ` FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`
)

// AppendAudit chains e to the last entry and inserts it, in a transaction
// of its own (see insertAudit). e is changed only once the entry is stored.
func (s *Store) AppendAudit(ctx context.Context, e *storage.AuditEntry) error {
	jn, err := newJournal(&storage.Journal{Audit: []*storage.AuditEntry{e}})
	if err != nil {
		return fmt.Errorf("sqlite: append audit entry: %w", err)
	}
	if err := s.inWrite(ctx, func(q queryer) error { return jn.write(ctx, q) }); err != nil {
		return fmt.Errorf("sqlite: append audit entry: %w", err)
	}
	jn.Publish()
	return nil
}

// ListAudit returns one page of the entries matching f, newest (highest
// seq) first, keyset-paginated on seq.
func (s *Store) ListAudit(ctx context.Context, f storage.AuditFilter, p storage.Page) ([]*storage.AuditEntry, string, error) {
	query, args, limit, err := auditQuery(f, p)
	if err != nil {
		return nil, "", err
	}
	rows, err := s.queryDynamic(ctx, query, args...)
	if err != nil {
		return nil, "", fmt.Errorf("sqlite: list audit: %w", err)
	}
	defer rows.Close()
	var out []*storage.AuditEntry
	more := false
	for rows.Next() {
		if len(out) == limit {
			more = true
			break
		}
		e, err := scanAudit(rows)
		if err != nil {
			return nil, "", fmt.Errorf("sqlite: list audit: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqlite: list audit: %w", err)
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
		// A range rather than LIKE: text compares bytewise (BINARY
		// collation), so [prefix, prefix with its final '.' raised to '/')
		// is exactly the actions starting with prefix, and a range of
		// audit_log_action.
		w.add("action >= ? AND action < ?", f.Action, f.Action[:len(f.Action)-1]+"/")
	default:
		w.eq("action", f.Action)
	}
	if p.Cursor != "" {
		seq, err := decodeSeqCursor(p.Cursor)
		if err != nil {
			return "", nil, 0, err
		}
		w.add("seq < ?", seq)
	}
	query = `SELECT ` + auditColumns + ` FROM audit_log` + w.sql() + ` ORDER BY seq DESC LIMIT ?`
	return query, append(w.args, limit+1), limit, nil
}

// ScanAudit returns up to limit entries with seq > after, by seq. A limit
// of 0 or less means 100; more than 1000 means 1000.
func (s *Store) ScanAudit(ctx context.Context, after int64, limit int) ([]*storage.AuditEntry, error) {
	out, err := queryAll(ctx, s.reader(), scanAudit, sqlScanAudit, after, pageLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: scan audit: %w", err)
	}
	return out, nil
}

func scanAudit(r scanner) (*storage.AuditEntry, error) {
	var e storage.AuditEntry
	err := r.Scan(&e.Seq, tscan(&e.At), &e.Actor, &e.Directory, &e.Action, &e.Object, &e.Outcome,
		&e.ClientIP, &e.Detail, &e.PrevHash, &e.Hash)
	if err != nil {
		return nil, err
	}
	return &e, nil
}
