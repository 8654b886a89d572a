package acme

import "context"

// FlushTimeline appends the buffered timeline events now, as Run does
// every batchInterval, for tests that read the timeline right after a
// download.
func (s *Server) FlushTimeline(ctx context.Context) error { return s.events.flush(ctx) }
