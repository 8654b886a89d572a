package storage

import (
	"errors"
	"time"
)

// ErrEventOwnerless refuses an order event of neither an order nor an
// authorization (AppendOrderEvents, Journal).
var ErrEventOwnerless = errors.New("order event has neither an order nor an authorization id")

// CheckEvents returns ErrEventOwnerless if an event of events has neither
// OrderID nor AuthzID.
func CheckEvents(events []*OrderEvent) error {
	for _, e := range events {
		if e.OrderID == "" && e.AuthzID == "" {
			return ErrEventOwnerless
		}
	}
	return nil
}

// StagedJournal is a Journal on its way into a store's transaction, the
// part every store does alike: its events checked and its audit entries
// copied (At in UTC, to the microsecond the stores keep), so that the
// caller's entries change only once the transaction has committed
// (Publish). The store chains Audit (Seq, PrevHash, Hash) as it writes it.
type StagedJournal struct {
	Events []*OrderEvent
	Audit  []AuditEntry
	dst    []*AuditEntry
}

// StageJournal checks j before anything is written: an event without an
// owner is refused (ErrEventOwnerless). A nil or empty j gives an empty
// StagedJournal.
func StageJournal(j *Journal) (*StagedJournal, error) {
	if j == nil {
		return &StagedJournal{}, nil
	}
	if err := CheckEvents(j.Events); err != nil {
		return nil, err
	}
	sj := &StagedJournal{Events: j.Events, dst: j.Audit, Audit: make([]AuditEntry, len(j.Audit))}
	for i, e := range j.Audit {
		sj.Audit[i] = *e
		sj.Audit[i].At = e.At.UTC().Truncate(time.Microsecond)
	}
	return sj, nil
}

// Empty reports whether the journal writes nothing.
func (sj *StagedJournal) Empty() bool { return len(sj.Events) == 0 && len(sj.Audit) == 0 }

// Publish copies the chained entries (Seq, PrevHash, Hash) back to the
// caller's; call it once the transaction has committed.
func (sj *StagedJournal) Publish() {
	for i, e := range sj.dst {
		*e = sj.Audit[i]
	}
}
