package admin

import (
	"encoding/hex"
	"fmt"
	"net/http"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// AuditEntryView is an audit entry as the API and `acmegate audit list`
// show it; the hashes are hex.
type AuditEntryView struct {
	Seq       int64     `json:"seq"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Directory string    `json:"directory,omitempty"`
	Action    string    `json:"action"`
	Object    string    `json:"object,omitempty"`
	Outcome   string    `json:"outcome"`
	ClientIP  string    `json:"client_ip,omitempty"`
	Detail    string    `json:"detail,omitempty"`
	PrevHash  string    `json:"prev_hash,omitempty"`
	Hash      string    `json:"hash"`
}

// NewAuditEntryView is e as shown.
func NewAuditEntryView(e *storage.AuditEntry) AuditEntryView {
	return AuditEntryView{
		Seq: e.Seq, At: e.At, Actor: e.Actor, Directory: e.Directory, Action: e.Action, Object: e.Object,
		Outcome: e.Outcome, ClientIP: e.ClientIP, Detail: e.Detail,
		PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash),
	}
}

func (s *Server) listAudit(c *call) error {
	if err := c.checkQuery("directory", "actor", "action", "object", "outcome", "since", "until"); err != nil {
		return err
	}
	f := storage.AuditFilter{Directory: c.query("directory"), Actor: c.query("actor"), Action: c.query("action"), Object: c.query("object")}
	var err error
	if f.Outcome, err = c.queryEnum("outcome", storage.OutcomeSuccess, storage.OutcomeFailure, storage.OutcomeDenied); err != nil {
		return err
	}
	if f.Since, err = c.queryTime("since"); err != nil {
		return err
	}
	if f.Until, err = c.queryTime("until"); err != nil {
		return err
	}
	p, err := c.page()
	if err != nil {
		return err
	}
	entries, next, err := s.store.ListAudit(c.r.Context(), f, p)
	if err != nil {
		return listError(fmt.Errorf("list audit entries: %w", err), p)
	}
	views := make([]AuditEntryView, len(entries))
	for i, e := range entries {
		views[i] = NewAuditEntryView(e)
	}
	replyPage(c, views, next)
	return nil
}

// auditVerification is the answer of GET /audit/verify.
type auditVerification struct {
	// OK is false when the chain is broken; Broken then names the first
	// entry that does not hold.
	OK             bool            `json:"ok"`
	EntriesChecked int64           `json:"entries_checked"`
	Broken         *auditBreakView `json:"broken,omitempty"`
}

type auditBreakView struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// verifyAudit recomputes the whole hash chain (DESIGN.md §11).
func (s *Server) verifyAudit(c *call) error {
	if err := c.checkQuery(); err != nil {
		return err
	}
	n, broken, err := storage.VerifyAudit(c.r.Context(), s.store)
	if err != nil {
		return fmt.Errorf("verify the audit trail: %w", err)
	}
	v := auditVerification{OK: broken == nil, EntriesChecked: n}
	if broken != nil {
		v.Broken = &auditBreakView{Seq: broken.Seq, Reason: broken.Reason}
	}
	c.reply(http.StatusOK, v)
	return nil
}
