package acme

import "time"

// Clock tells the time. Tests move it to exercise expiry; production uses
// the system clock.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now().UTC() }

// SystemClock is the real clock, in UTC.
func SystemClock() Clock { return systemClock{} }
