package acme

import (
	"context"
	"sync"
	"time"

	"github.com/acmegate/acmegate/storage"
)

// waiters lets a request hold its response briefly until a job of this
// process records an outcome. A client that answers a challenge and then
// polls its authorization would otherwise sleep at least one Retry-After
// (a second) although validation on a good network takes milliseconds; with
// the hold the first poll already sees the result. When the job runs on
// another instance the hold simply times out and the client polls as usual.
// Only validations that left the challenge request (a transient failure, or
// one too slow for ProcessingHold) are held for: the others are settled by
// the request itself.
type waiters struct {
	mu sync.Mutex
	m  map[string][]chan struct{}
}

func newWaiters() *waiters { return &waiters{m: map[string][]chan struct{}{}} }

// register returns a channel closed by the next notify(id), and a function
// to call when the caller stops waiting.
func (w *waiters) register(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	w.m[id] = append(w.m[id], ch)
	w.mu.Unlock()
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		list := w.m[id]
		for i, c := range list {
			if c == ch {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(w.m, id)
		} else {
			w.m[id] = list
		}
	}
}

// notify wakes everyone waiting on id.
func (w *waiters) notify(id string) {
	w.mu.Lock()
	list := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	for _, c := range list {
		close(c)
	}
}

// holdPoll is how often a held request looks at storage, for outcomes
// recorded by another instance.
const holdPoll = 50 * time.Millisecond

// hold waits until ch is closed, done reports true, d passes or ctx ends.
// done covers jobs that run on another instance and so never close ch.
func hold(ctx context.Context, ch <-chan struct{}, d time.Duration, done func() bool) {
	if d <= 0 {
		return
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := time.NewTicker(holdPoll)
	defer poll.Stop()
	for {
		select {
		case <-ch:
			return
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		case <-poll.C:
			if done() {
				return
			}
		}
	}
}

// challengeSettled reports whether challenge id is no longer processing.
func (s *Server) challengeSettled(ctx context.Context, id string) func() bool {
	return func() bool {
		c, err := s.store.GetChallenge(ctx, id)
		return err != nil || c.Status != storage.StatusProcessing
	}
}
