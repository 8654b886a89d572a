package acme

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/acmegate/acmegate/storage"
)

// appendCounter is an EventStore that records each AppendOrderEvents call.
type appendCounter struct {
	storage.EventStore
	mu      sync.Mutex
	batches [][]*storage.OrderEvent
}

func (a *appendCounter) AppendOrderEvents(_ context.Context, events ...*storage.OrderEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.batches = append(a.batches, events)
	return nil
}

// TestEventBatchAppendsOnceABatch: buffered events cost no write until the
// batch is full, then one write for all of them; a flush of an empty buffer
// writes nothing.
func TestEventBatchAppendsOnceABatch(t *testing.T) {
	st := &appendCounter{}
	b := &eventBatch{store: st, log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	for i := range batchSize - 1 {
		b.add(ctx, &storage.OrderEvent{OrderID: "o", Kind: EventDownloaded, Detail: string(rune('a' + i%26))})
	}
	if len(st.batches) != 0 {
		t.Fatalf("%d appends before the batch is full, want none", len(st.batches))
	}
	b.add(ctx, &storage.OrderEvent{OrderID: "o", Kind: EventDownloaded})
	if len(st.batches) != 1 || len(st.batches[0]) != batchSize {
		t.Fatalf("appends %d, want one of %d events", len(st.batches), batchSize)
	}
	if err := b.flush(ctx); err != nil || len(st.batches) != 1 {
		t.Fatalf("flush of an empty buffer: %v, %d appends, want none more", err, len(st.batches))
	}
	b.add(ctx, &storage.OrderEvent{OrderID: "o", Kind: EventDownloaded})
	if err := b.flush(ctx); err != nil || len(st.batches) != 2 || len(st.batches[1]) != 1 {
		t.Fatalf("flush of one event: %v, %d appends, want a second one of one event", err, len(st.batches))
	}
}
